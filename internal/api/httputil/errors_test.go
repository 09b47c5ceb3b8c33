package httputil

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/containerd/errdefs"
)

// TestEveryErrorKindHasItsStatus walks the kinds the services use.
func TestEveryErrorKindHasItsStatus(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{errdefs.ErrNotFound, 404},
		{errdefs.ErrInvalidArgument, 400},
		{errdefs.ErrAlreadyExists, 409},
		{errdefs.ErrConflict, 409},
		{errdefs.ErrFailedPrecondition, 409},
		{errdefs.ErrUnauthenticated, 401},
		{errdefs.ErrPermissionDenied, 403},
		{errdefs.ErrNotModified, 304},
		{errdefs.ErrNotImplemented, 501},
		{errdefs.ErrUnavailable, 503},
		{errdefs.ErrOutOfRange, 400},
		{errdefs.ErrResourceExhausted, 429},
		{errdefs.ErrAborted, 409},
		{errdefs.ErrUnknown, 500},
		{errdefs.ErrInternal, 500},
		{errdefs.ErrDataLoss, 500},
		{context.Canceled, 499},
		{errors.New("plain"), 500},
		{fmt.Errorf("wrapped: %w", errdefs.ErrNotFound.WithMessage("No such container: x")), 404},
	} {
		if got := StatusOf(tc.err); got != tc.status {
			t.Errorf("%v: status %d, want %d", tc.err, got, tc.status)
		}
	}
}

func TestWriteErrorIsDockerJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, errdefs.ErrConflict.WithMessage("name in use"))
	if rec.Code != http.StatusConflict || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != "{\"message\":\"name in use\"}\n" {
		t.Fatalf("got %d %q %q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}
