package store

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// A done batch's record is packed (pack in luaLib, "A small done batch" in the
// package doc): the fields of packedSchema whose values fit their kind leave
// the hash for one binary value, cut into pieces of at most packedPiece bytes
// (so that the record stays a listpack hash: hash-max-listpack-value is 64)
// kept as the fields p0, p1... (packedPieces at most). The value is a varint
// whose bit i says that packedSchema[i] is there, then each field there, in
// the schema's order, as its kind writes it:
//
//	'f' a flag whose value is "1": nothing
//	'n' a decimal number (no sign, no leading zero, at most 15 digits): a varint
//	'd' such a number not below created_at: a varint of the difference
//	'h' lowercase hex of an even length: a varint length and the bytes
//	'g' a segment's admission "count" or "count:hex": a varint of count*2, +1
//	    with the hex, followed then by the hex as 'h'
//	's' any string: a varint length and the bytes
//
// A varint is 7 bits a byte, low first, the high bit set on all but the last.
// The schema only grows at its end: a packed record names fields by place,
// and a reader stops at the end of its schema (a later build's fields follow).
const (
	fieldPacked  = "p"
	packedPieces = 4
	packedPiece  = 63
)

// packedField is a field of packedSchema and its kind.
type packedField struct {
	name string
	kind byte
}

// packedSchema lists the fields pack may take into the packed value, those
// every done batch has first (the presence varint is shorter). The record
// keeps every other field in the hash: the hold, the callback's, an older
// build's inline job.
var packedSchema = []packedField{
	{"id", 'f'}, {"sealed", 'f'}, {"created_at", 'n'}, {"finished_at", 'd'}, {"jobref", 'h'},
	{"segment_size", 'n'}, {"segments", 'n'}, {"accepted", 'n'}, {"invited", 'n'}, {"seg0", 'g'},
	{"source", 's'}, {"owner", 's'}, {"by", 's'}, {"from", 's'}, {fieldFoldedStates, 's'},
	{fieldFoldedIndex + "s0", 's'}, {fieldFoldedIndex + "i0", 's'}, {"dead_lettered", 'n'}, {"rejected", 'n'},
	{"cv_queued", 'n'}, {"skipped_duplicate", 'n'}, {"cancelled", 'n'}, {"digest", 'h'}, {"replay_of", 's'},
}

// packedFields are the names of the packed value's pieces, in order.
var packedFields = func() []string {
	out := make([]string, packedPieces)
	for i := range out {
		out[i] = fieldPacked + strconv.Itoa(i)
	}
	return out
}()

// packLib is the part of luaLib that packs a done batch's record and reads
// it: rmget and rget read a record's fields whether packed or not, rincr adds
// to a counter that may be packed, pack packs.
var packLib = `
local PIECES, PIECE, CREATED = {'` + strings.Join(packedFields, `', '`) + `'}, ` + itoa(packedPiece) + `, 'created_at'
local SCHEMA = {` + func() string {
	var b strings.Builder
	for i, f := range packedSchema {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{'" + f.name + "', '" + string(f.kind) + "'}")
	}
	return b.String()
}() + `}

local function varint(n)
  local out = {}
  while n >= 128 do out[#out + 1] = string.char(n % 128 + 128); n = math.floor(n / 128) end
  out[#out + 1] = string.char(n)
  return table.concat(out)
end

-- readVarint reads a varint of s at i: the number and the place after it.
local function readVarint(s, i)
  local n, mul = 0, 1
  while true do
    local b = string.byte(s, i)
    i = i + 1
    if b < 128 then return n + b * mul, i end
    n, mul = n + (b - 128) * mul, mul * 128
  end
end

-- readBytes reads a varint length and that many bytes of s at i.
local function readBytes(s, i)
  local n
  n, i = readVarint(s, i)
  return string.sub(s, i, i + n - 1), i + n
end

local function number(v)
  if v and #v <= 15 and (v == '0' or string.find(v, '^[1-9]%d*$')) then return tonumber(v) end
end

local function decimal(n) return string.format('%.0f', n) end

local function isHex(v) return v and #v > 0 and #v % 2 == 0 and not string.find(v, '[^0-9a-f]') end
local function fromHex(h) return (string.gsub(h, '..', function(x) return string.char(tonumber(x, 16)) end)) end
local function toHex(b) return (string.gsub(b, '.', function(c) return string.format('%02x', string.byte(c)) end)) end

-- encode is value v of a field of kind k as the packed value holds it, nil
-- when v does not fit the kind (the field stays in the hash); m is the record.
local function encode(k, v, m)
  if not v then return nil end
  if k == 'f' then return v == '1' and '' or nil end
  if k == 's' then return varint(#v) .. v end
  if k == 'h' then return isHex(v) and varint(#v / 2) .. fromHex(v) or nil end
  if k == 'g' then
    local c, h = string.match(v, '^(%d+):(.*)$')
    local n = number(c or v)
    if not n then return nil end
    if not c then return varint(2 * n) end
    if not isHex(h) then return nil end
    return varint(2 * n + 1) .. varint(#h / 2) .. fromHex(h)
  end
  local n = number(v)
  if not n then return nil end
  if k == 'd' then
    local c = number(m[CREATED])
    if not c or n < c then return nil end
    n = n - c
  end
  return varint(n)
end

-- unpackValue reads a packed value into a table of its fields.
local function unpackValue(s)
  local m = {}
  local bits, i = readVarint(s, 1)
  for _, f in ipairs(SCHEMA) do
    if bits % 2 == 1 then
      local k, v, n = f[2]
      if k == 'f' then
        v = '1'
      elseif k == 's' then
        v, i = readBytes(s, i)
      elseif k == 'h' then
        v, i = readBytes(s, i)
        v = toHex(v)
      else
        n, i = readVarint(s, i)
        if k == 'g' then
          v = decimal(math.floor(n / 2))
          if n % 2 == 1 then
            local h
            h, i = readBytes(s, i)
            v = v .. ':' .. toHex(h)
          end
        elseif k == 'd' then
          v = decimal(n + tonumber(m[CREATED]))
        else
          v = decimal(n)
        end
      end
      m[f[1]] = v
    end
    bits = math.floor(bits / 2)
  end
  return m
end

-- rmget reads fields of a batch's record (HMGET, false for none): a field the
-- hash lacks is read from the packed value, if the record is packed.
local function rmget(batch, fields)
  local args = {}
  for k, f in ipairs(fields) do args[k] = f end
  for _, p in ipairs(PIECES) do args[#args + 1] = p end
  local v = redis.call('HMGET', batch, unpack(args))
  local n = #fields
  if not v[n + 1] then return v end
  local pieces = {}
  for k = n + 1, #v do
    if v[k] then pieces[#pieces + 1] = v[k] end
  end
  local m = unpackValue(table.concat(pieces))
  for k, f in ipairs(fields) do
    if not v[k] then v[k] = m[f] or false end
  end
  return v
end

local function rget(batch, f) return rmget(batch, {f})[1] end

-- rincr adds n to counter f of a batch's record (HINCRBY), from its packed
-- value when the hash lacks it.
local function rincr(batch, f, n)
  if redis.call('HEXISTS', batch, PIECES[1]) == 1 and redis.call('HEXISTS', batch, f) == 0 then
    redis.call('HSET', batch, f, rget(batch, f) or '0')
  end
  return redis.call('HINCRBY', batch, f, n)
end

-- pack packs a done batch's record: the fields of SCHEMA that fit their kind
-- become one value, in pieces of at most PIECE bytes. A record packed before,
-- not done, whose callback is not settled yet (an older build's worker
-- delivering it would find no record: see the package doc) or whose value
-- would take more than its pieces is left as it is.
local function pack(batch)
  local names = {PIECES[1], 'callback_url', 'cb_at'}
  for _, f in ipairs(SCHEMA) do names[#names + 1] = f[1] end
  local v, m = redis.call('HMGET', batch, unpack(names)), {}
  for k, f in ipairs(names) do m[f] = v[k] or nil end
  if m[PIECES[1]] or not m.finished_at or (m.callback_url and not m.cb_at) then return end
  local bits, bit, body, taken = 0, 1, {}, {}
  for _, f in ipairs(SCHEMA) do
    local e = encode(f[2], m[f[1]], m)
    if e then
      bits = bits + bit
      body[#body + 1] = e
      taken[#taken + 1] = f[1]
    end
    bit = bit * 2
  end
  local value = varint(bits) .. table.concat(body)
  if #value > #PIECES * PIECE then return end
  local set = {}
  for k = 1, math.ceil(#value / PIECE) do
    set[#set + 1] = PIECES[k]
    set[#set + 1] = string.sub(value, (k - 1) * PIECE + 1, k * PIECE)
  end
  redis.call('HSET', batch, unpack(set))
  redis.call('HDEL', batch, unpack(taken))
end
`

// errPacked is a packed value that does not read as packedSchema says.
var errPacked = errors.New("a packed batch record that does not decode")

// unpackRecord moves the fields of a packed record m (HGETALL) back among the
// others, as pack found them; a field of the hash wins over the packed one.
// A record that is not packed is left as it is.
func unpackRecord(m map[string]string) error {
	var value strings.Builder
	for _, p := range packedFields {
		value.WriteString(m[p])
		delete(m, p)
	}
	if value.Len() == 0 {
		return nil
	}
	fields, err := unpackValue([]byte(value.String()))
	if err != nil {
		return err
	}
	for f, v := range fields {
		if _, ok := m[f]; !ok {
			m[f] = v
		}
	}
	return nil
}

// recordFields is fields and the packed value's pieces: what an HMGET reads
// for recordValues.
func recordFields(fields ...string) []string {
	return append(append(make([]string, 0, len(fields)+packedPieces), fields...), packedFields...)
}

// recordValues is the values of fields (nil for none) from v, an HMGET of
// recordFields(fields...), reading a field the hash lacks from the packed
// value, if the record is packed.
func recordValues(fields []string, v []any) ([]any, error) {
	out := make([]any, len(fields))
	copy(out, v)
	if len(v) != len(fields)+packedPieces || v[len(fields)] == nil {
		return out, nil
	}
	m := map[string]string{}
	for i, p := range packedFields {
		m[p], _ = v[len(fields)+i].(string)
	}
	if err := unpackRecord(m); err != nil {
		return nil, err
	}
	for i, f := range fields {
		if x, ok := m[f]; ok && out[i] == nil {
			out[i] = x
		}
	}
	return out, nil
}

// unpackValue reads a packed value (see packedSchema) into its fields.
func unpackValue(b []byte) (map[string]string, error) {
	r := packedReader{b: b}
	bits := r.varint()
	m := map[string]string{}
	for _, f := range packedSchema {
		if bits&1 == 1 {
			var v string
			switch f.kind {
			case 'f':
				v = "1"
			case 's':
				v = string(r.bytes())
			case 'h':
				v = hex.EncodeToString(r.bytes())
			case 'g':
				n := r.varint()
				v = strconv.FormatUint(n/2, 10)
				if n%2 == 1 {
					v += ":" + hex.EncodeToString(r.bytes())
				}
			case 'd':
				v = strconv.FormatUint(r.varint()+atou(m["created_at"]), 10)
			default:
				v = strconv.FormatUint(r.varint(), 10)
			}
			m[f.name] = v
		}
		bits >>= 1
	}
	if r.bad {
		return nil, errPacked
	}
	return m, nil
}

func atou(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }

// packedReader reads a packed value; bad is set once it ran past the end.
type packedReader struct {
	b   []byte
	bad bool
}

func (r *packedReader) varint() uint64 {
	var n uint64
	for shift := 0; ; shift += 7 {
		if len(r.b) == 0 || shift > 56 {
			r.bad = true
			return 0
		}
		c := r.b[0]
		r.b = r.b[1:]
		n |= uint64(c&127) << shift
		if c < 128 {
			return n
		}
	}
}

func (r *packedReader) bytes() []byte {
	n := r.varint()
	if n > uint64(len(r.b)) {
		r.bad = true
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}
