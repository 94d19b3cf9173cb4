package dapr

import (
	"errors"
	"net/http"
	"testing"

	"github.com/harmonia-music/harmonia/internal/platform"
)

func TestUpstreamFailureClassifies(t *testing.T) {
	err := UpstreamFailure("auth", 409, "application/problem+json", []byte(`{"type":"x","title":"Conflict","status":409,"detail":"taken"}`))
	var u *platform.UpstreamError
	if !errors.As(err, &u) || u.Problem.Detail != "taken" || platform.StatusOf(err) != 409 {
		t.Fatalf("problem not passed on: %v", err)
	}
	err = UpstreamFailure("auth", 500, "application/json", []byte(`{"errorCode":"ERR_DIRECT_INVOKE"}`))
	if platform.StatusOf(err) != http.StatusServiceUnavailable {
		t.Fatalf("sidecar failure: %v", err)
	}
	err = UpstreamFailure("auth", 403, "application/json", []byte(`{"errorCode":"ERR_DIRECT_INVOKE","message":"PermissionDenied"}`))
	if platform.StatusOf(err) != http.StatusInternalServerError {
		t.Fatalf("policy refusal must not look retryable: %v", err)
	}
	for _, msg := range []string{"error while executing state transaction: possible etag mismatch. error from state store",
		"error while executing state transaction: no item was updated"} {
		if !isETagMismatch(errors.New(msg)) {
			t.Fatalf("not recognised as a conflict: %s", msg)
		}
	}
}
