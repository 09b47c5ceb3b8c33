package httputil

import (
	"context"
	"errors"
	"net/http"

	"github.com/containerd/errdefs"
)

// statusTable maps error kinds to HTTP statuses. It is the only place
// that decides a status from an error.
var statusTable = []struct {
	is     func(error) bool
	status int
}{
	{errdefs.IsNotFound, http.StatusNotFound},
	{errdefs.IsInvalidArgument, http.StatusBadRequest},
	{errdefs.IsAlreadyExists, http.StatusConflict},
	{errdefs.IsConflict, http.StatusConflict},
	{errdefs.IsFailedPrecondition, http.StatusConflict},
	{errdefs.IsUnauthorized, http.StatusUnauthorized},
	{errdefs.IsPermissionDenied, http.StatusForbidden},
	{errdefs.IsNotModified, http.StatusNotModified},
	{errdefs.IsNotImplemented, http.StatusNotImplemented},
	{errdefs.IsUnavailable, http.StatusServiceUnavailable},
	{errdefs.IsOutOfRange, http.StatusBadRequest},
	{errdefs.IsResourceExhausted, http.StatusTooManyRequests},
	{errdefs.IsCanceled, 499},
	{errdefs.IsDeadlineExceeded, http.StatusGatewayTimeout},
	{errdefs.IsAborted, http.StatusConflict},
	{errdefs.IsDataLoss, http.StatusInternalServerError},
	{errdefs.IsInternal, http.StatusInternalServerError},
	{errdefs.IsUnknown, http.StatusInternalServerError},
}

// StatusOf returns the HTTP status for err.
func StatusOf(err error) int {
	if errors.Is(err, context.Canceled) {
		return 499
	}
	for _, e := range statusTable {
		if e.is(err) {
			return e.status
		}
	}
	return http.StatusInternalServerError
}

// WriteError writes err as {"message": ...} with its status. A 304 has no body.
func WriteError(w http.ResponseWriter, err error) {
	status := StatusOf(err)
	if status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	WriteJSON(w, status, map[string]string{"message": err.Error()})
}
