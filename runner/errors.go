package runner

import (
	"errors"
	"net/http"

	"github.com/rivetkube/rivetkube/internal/errs"
)

// UserError is an error meant for the client: its code, message and
// metadata reach the client as group "user". Any other error an action
// returns is masked as actor/internal_error and only logged.
type UserError struct {
	// Code is machine readable; "user_error" when empty.
	Code    string
	Message string
	// Metadata is any CBOR-encodable value; nil for none.
	Metadata any
}

// NewUserError returns a UserError with a code, message and optional metadata.
func NewUserError(code, message string, metadata any) *UserError {
	return &UserError{Code: code, Message: message, Metadata: metadata}
}

// Error implements error.
func (e *UserError) Error() string {
	return "user error " + e.code() + ": " + e.Message
}

func (e *UserError) code() string {
	if e.Code == "" {
		return "user_error"
	}
	return e.Code
}

// toPublic converts any error an actor returned into what the client sees.
func toPublic(err error) *errs.Error {
	if err == nil {
		return nil
	}
	var ue *UserError
	if errors.As(err, &ue) {
		pe := &errs.Error{Group: "user", Code: ue.code(), Message: ue.Message, Status: http.StatusBadRequest}
		if ue.Metadata != nil {
			if md, mErr := Marshal(ue.Metadata); mErr == nil {
				pe.Metadata = md
			}
		}
		return pe
	}
	return errs.From(err)
}
