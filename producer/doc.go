// Package producer reads candidate files and enqueues them as batches.
//
// The readers — CSVSource, JSONLSource, JSONSource and SliceSource, opened by
// format with Open or NewSource — turn outside input into a stream of Records: each
// either a normalised candidate that passed payload.ValidateCandidate, or a row
// rejected with a RowError naming its line (or candidate position) and field. They
// stream: memory stays flat however many rows a file has, and one runaway record
// (an unterminated quote, a line without an end) is refused rather than buffered.
// They do not de-duplicate, do not know the target, and do no Redis I/O.
//
// Producer.Import takes a Source to a batch on the queue: the batch record,
// de-duplication within the batch, the segment tasks with their deterministic ids
// and the queue each goes to, so that a re-run with the same batch id enqueues
// nothing twice. Sending to the vendor is the worker's.
package producer
