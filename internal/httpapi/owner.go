package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/bulkinvite/bulkinvite/internal/auth"
	"github.com/bulkinvite/bulkinvite/internal/store"
)

// Ownership: a batch records the name of the token that created it
// (store.Meta.Owner). A token without admin sees and acts on its own batches
// only: another owner's batch, one created before batches had owners, and one
// whose record has expired (its owner is gone with it) are a 404 to it, as if
// they did not exist, and are left out of its lists.

// caller is the identity of the request's token (the anonymous admin of a
// server without auth).
func caller(r *http.Request) auth.Identity {
	id, _ := auth.FromContext(r.Context())
	return id
}

// owns reports whether who may see and act on a batch owned by owner.
func owns(who auth.Identity, owner string) bool {
	return who.Has(auth.Admin) || owner != "" && owner == who.Name
}

// ownerFilter narrows f to the caller's batches unless it is an admin.
func ownerFilter(r *http.Request, f store.Filter) store.Filter {
	if who := caller(r); !who.Has(auth.Admin) {
		f.Owner = who.Name
	}
	return f
}

// noBatch is the 404 of a batch the caller may not see, the same as that of
// one never created.
func noBatch(id string) error { return errorf(http.StatusNotFound, CodeNotFound, "no batch "+id) }

// checkOwner answers noBatch unless the caller may act on batch id: an admin
// may on every one (even one that does not exist), another token on its own.
func (s *Server) checkOwner(r *http.Request, id string) error {
	who := caller(r)
	if who.Has(auth.Admin) {
		return nil
	}
	b, err := s.store.Batch(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrBatchNotFound), errors.Is(err, store.ErrBatchExpired):
		return noBatch(id)
	case err != nil:
		return err
	case !owns(who, b.Owner):
		return noBatch(id)
	}
	return nil
}

// visible keeps of ids the batches the caller may see.
func (s *Server) visible(ctx context.Context, who auth.Identity, ids []string) ([]string, error) {
	if who.Has(auth.Admin) {
		return ids, nil
	}
	var out []string
	for _, id := range ids {
		b, err := s.store.Batch(ctx, id)
		switch {
		case errors.Is(err, store.ErrBatchNotFound), errors.Is(err, store.ErrBatchExpired):
		case err != nil:
			return nil, err
		case owns(who, b.Owner):
			out = append(out, id)
		}
	}
	return out, nil
}
