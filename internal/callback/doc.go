// Package callback tells another service that its batch is done: it POSTs the
// batch's status to the batch's callback_url, signed with an HMAC of the time and
// the body (X-Bulkinvite-Signature) so the receiver can check it came from us,
// with an event id so it can drop a repeat; refuses targets on private networks
// unless allowed; and says what to retry. Sending and retrying is the worker's
// business (a callback task); storing the delivery state is the store's.
package callback
