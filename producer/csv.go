package producer

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"

	"github.com/bulkinvite/bulkinvite/payload"
)

// field indexes the candidate fields a CSV column can feed.
type field int

const (
	fieldATSID field = iota
	fieldEmail
	fieldName
	fieldFirstname
	fieldLastname
	fieldCVLink
	numFields
)

// fieldNames are the vendor's names of the fields, as the canonical column names.
var fieldNames = [numFields]string{"ats_candidate_id", "email", "name", "firstname", "lastname", "cv_link"}

// columnAliases lists, for each field, the header names that feed it: the
// canonical name first. Headers are compared after canonicalHeader.
var columnAliases = [numFields][]string{
	fieldATSID:     {"ats_candidate_id", "ats_id", "candidate_id"},
	fieldEmail:     {"email", "email_address", "e-mail", "mail"},
	fieldName:      {"name", "full_name", "candidate_name"},
	fieldFirstname: {"firstname", "first", "given_name"},
	fieldLastname:  {"lastname", "last", "surname", "family_name"},
	fieldCVLink:    {"cv_link", "cv", "cv_url", "cvlink", "resume", "resume_url", "resume_link"},
}

// headerFields maps a canonical header to its field.
var headerFields = func() map[string]field {
	m := make(map[string]field)
	for f, names := range columnAliases {
		for _, n := range names {
			m[canonicalHeader(n)] = field(f)
		}
	}
	return m
}()

// canonicalHeader lower-cases h and drops white space, '_' and '-', so that
// "First Name", "first_name" and "FIRSTNAME" compare equal.
func canonicalHeader(h string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, h)
}

// ErrCSVHeader is wrapped by the error NewCSVSource returns for a file whose first
// row is missing or cannot serve as the header.
var ErrCSVHeader = errors.New("unusable CSV header")

// CSVSource reads candidates from CSV with a header row (docs/input.md, "Input formats").
//
// Columns are matched by name ignoring letter case, white space, '_' and '-', and
// by the aliases in the package's table (email_address, e-mail, mail; cv, cv_url,
// resume, resume_url; first, given_name; last, surname, family_name; full_name,
// candidate_name; ats_id, candidate_id). When two columns feed the same field, the
// first wins. Other columns are ignored; Ignored names them.
//
// It accepts a UTF-8 byte order mark, CRLF line ends, quoted fields spanning lines,
// and rows with fewer fields (the missing ones are empty) or more (the extra ones
// are ignored). A file whose header has no ',' but does have ';' or a tab is read
// with that separator. Empty lines, and rows whose every field is empty, are
// skipped. A row CSV cannot parse (a stray '"') is rejected with a RowError and
// reading goes on with the next line.
type CSVSource struct {
	r       *csv.Reader
	limit   *limitReader
	cols    [numFields]int // column index of each field, -1 if none
	ignored []string
	width   int   // number of header columns
	lastEnd int64 // the line on which the last record read ended
	err     error // sticky: io.EOF or a fatal error
}

// NewCSVSource reads the header row from r. It fails, wrapping ErrCSVHeader, when r
// has no header row or the header has neither an email nor a cv_link column (the
// error lists the columns it found and the names it accepts).
func NewCSVSource(r io.Reader) (*CSVSource, error) {
	limit := newLimitReader(r)
	br := bufio.NewReader(limit)
	skipBOM(br)
	cr := csv.NewReader(br)
	cr.Comma = sniffComma(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = cr.Comma != '\t'
	s := &CSVSource{r: cr, limit: limit}

	header, err := cr.Read()
	switch {
	case err == io.EOF:
		return nil, fmt.Errorf("%w: the file is empty; the first row must name the columns (for example email,cv_link)", ErrCSVHeader)
	case err != nil:
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%w: line %d: %s", ErrCSVHeader, pe.StartLine, describeParseError(pe))
		}
		return nil, fmt.Errorf("%w: %v", ErrCSVHeader, s.fatal(err))
	}
	hline, _ := cr.FieldPos(0)
	s.noteEnd(header)
	s.mapHeader(header)
	if s.cols[fieldEmail] < 0 && s.cols[fieldCVLink] < 0 {
		return nil, fmt.Errorf("%w: line %d has no email or cv_link column (found %s); the first row must name the columns, and email is accepted as %s, cv_link as %s",
			ErrCSVHeader, hline, quoteList(header), strings.Join(columnAliases[fieldEmail], ", "), strings.Join(columnAliases[fieldCVLink], ", "))
	}
	return s, nil
}

// sniffComma picks the separator from the first line that is not blank: ','
// unless that line has none and has ';' or a tab (a spreadsheet export in a locale
// with a decimal comma).
func sniffComma(br *bufio.Reader) rune {
	b, _ := br.Peek(br.Size())
	rest := string(b)
	var line string
	for rest != "" && strings.TrimSpace(line) == "" {
		line, rest, _ = strings.Cut(rest, "\n")
	}
	if strings.ContainsRune(line, ',') {
		return ','
	}
	semi, tab := strings.Count(line, ";"), strings.Count(line, "\t")
	switch {
	case semi > 0 && semi >= tab:
		return ';'
	case tab > 0:
		return '\t'
	}
	return ','
}

func (s *CSVSource) mapHeader(header []string) {
	s.width = len(header)
	for i := range s.cols {
		s.cols[i] = -1
	}
	seen := make(map[string]bool)
	ignore := func(desc string) {
		if !seen[desc] {
			seen[desc] = true
			s.ignored = append(s.ignored, desc)
		}
	}
	for i, h := range header {
		name := strings.TrimSpace(h)
		f, ok := headerFields[canonicalHeader(name)]
		switch {
		case name == "":
			ignore(fmt.Sprintf("(column %d, no name)", i+1))
		case !ok:
			ignore(name)
		case s.cols[f] >= 0:
			ignore(fmt.Sprintf("%s (another %s column: %q is used)", name, fieldNames[f], strings.TrimSpace(header[s.cols[f]])))
		default:
			s.cols[f] = i
		}
	}
}

// Ignored names the header's columns that feed no field, each once, in header
// order, for a person to read: an unknown column by its name, a second column for
// a field already fed by an earlier one as `E-Mail (another email column: "Email"
// is used)`, a column without a name by its position.
func (s *CSVSource) Ignored() []string { return s.ignored }

// Next returns the next data row. See Source.
func (s *CSVSource) Next() (Record, error) {
	for s.err == nil {
		s.limit.reset()
		rec, err := s.r.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				s.lastEnd = int64(pe.Line)
				return Record{Row: int64(pe.StartLine), Err: &RowError{
					Row: int64(pe.StartLine), Where: WhereLine, Msg: describeParseError(pe),
				}}, nil
			}
			s.err = s.fatal(err)
			break
		}
		row, _ := s.r.FieldPos(0)
		s.noteEnd(rec)
		if allBlank(rec) {
			continue
		}
		return NewRecord(int64(row), WhereLine, s.candidate(rec)), nil
	}
	return Record{}, s.err
}

func (s *CSVSource) fatal(err error) error {
	switch {
	case err == io.EOF:
		return io.EOF
	case errors.Is(err, errRecordTooLarge):
		return fmt.Errorf("CSV: the record starting after line %d is larger than %d bytes; is a quoted field missing its closing '\"'?", s.lastEnd, MaxRecordBytes)
	}
	return fmt.Errorf("CSV: reading after line %d: %w", s.lastEnd, err)
}

// noteEnd records the line on which rec, just read, ends.
func (s *CSVSource) noteEnd(rec []string) {
	if len(rec) == 0 {
		return
	}
	line, _ := s.r.FieldPos(len(rec) - 1)
	s.lastEnd = int64(line) + int64(strings.Count(rec[len(rec)-1], "\n"))
}

func (s *CSVSource) candidate(rec []string) payload.Candidate {
	get := func(f field) string {
		if i := s.cols[f]; i >= 0 && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	c := payload.Candidate{
		ATSCandidateID: get(fieldATSID),
		Email:          get(fieldEmail),
		Name:           get(fieldName),
		Firstname:      get(fieldFirstname),
		Lastname:       get(fieldLastname),
		CVLink:         get(fieldCVLink),
	}
	return compact(c, rec)
}

// compact copies the fields of c out of the record they were cut from when that
// record is much larger than they are, so that a kept candidate does not pin the
// record's ignored columns in memory.
func compact(c payload.Candidate, rec []string) payload.Candidate {
	total := 0
	for _, f := range rec {
		total += len(f)
	}
	fields := [...]*string{&c.ATSCandidateID, &c.Email, &c.Name, &c.Firstname, &c.Lastname, &c.CVLink}
	used := 0
	for _, f := range fields {
		used += len(*f)
	}
	if total <= 2*used+256 {
		return c
	}
	var b strings.Builder
	b.Grow(used)
	for _, f := range fields {
		b.WriteString(*f)
	}
	all := b.String()
	for _, f := range fields {
		n := len(*f)
		*f, all = all[:n], all[n:]
	}
	return c
}

func allBlank(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

func describeParseError(pe *csv.ParseError) string {
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return fmt.Sprintf(`unreadable CSV: a '"' inside a field that is not quoted (line %d, column %d); quote the whole field and double the '"' inside it`, pe.Line, pe.Column)
	case errors.Is(pe.Err, csv.ErrQuote):
		return fmt.Sprintf(`unreadable CSV: a quoted field has a stray or missing '"' (line %d, column %d)`, pe.Line, pe.Column)
	}
	return fmt.Sprintf("unreadable CSV (line %d, column %d): %v", pe.Line, pe.Column, pe.Err)
}

func quoteList(ss []string) string {
	if len(ss) == 0 {
		return "no columns"
	}
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
