package caddymodule

import (
	"encoding/json"
	"net/http"

	"github.com/dustin/go-humanize"
	"github.com/google/uuid"

	"github.com/tokengate/tokengate/body"
)

// errorBody is the error shape of Juspay's card APIs (seeds/001): a top-level
// message and code, and error_info with the offending fields. Clients already
// written against Juspay read it unchanged.
type errorBody struct {
	ErrorMessage string    `json:"error_message"`
	Status       string    `json:"status"`
	ErrorCode    string    `json:"error_code"`
	ErrorInfo    errorInfo `json:"error_info"`
}

type errorInfo struct {
	Category         string       `json:"category"`
	Code             string       `json:"code"`
	DeveloperMessage string       `json:"developer_message"`
	Fields           []errorField `json:"fields"`
	Href             string       `json:"href"`
	RequestID        string       `json:"request_id"`
	UserMessage      string       `json:"user_message"`
}

type errorField struct {
	FieldName string `json:"field_name"`
	Reason    string `json:"reason"`
}

// gatewayError is an error answered by the gateway itself. Its texts are
// written by us and never include request values.
type gatewayError struct {
	status   int
	code     string // error_code
	category string // USER_ERROR, AUTHENTICATION_ERROR, SERVER_ERROR
	infoCode string // INVALID_INPUT, UNAUTHORIZED, ...
	message  string
	field    *body.FieldError
	// closeConn ends the connection after the answer. It is set when the
	// body was not read to its end: on a kept-alive connection the unread
	// rest would be parsed as the next request, which lets a client smuggle
	// a request past the gateway inside an oversized body.
	closeConn bool
}

func fieldFailure(fe *body.FieldError) gatewayError {
	// The path is built from names the caller chose; one that is a card
	// number must not come back in the answer or the log.
	fe.Field = body.SafePath(fe.Field)
	category, infoCode := "USER_ERROR", "INVALID_INPUT"
	switch fe.Status {
	case http.StatusForbidden:
		infoCode = "FORBIDDEN"
	case http.StatusUnprocessableEntity:
		infoCode = "UNPROCESSABLE"
	}
	return gatewayError{status: fe.Status, code: fe.Code, category: category, infoCode: infoCode, message: fe.Error(), field: fe}
}

// write answers the error and returns the request id that was sent, so the
// log line can carry it too.
func (e gatewayError) write(w http.ResponseWriter) string {
	id := uuid.NewString()
	b := errorBody{
		ErrorMessage: e.message,
		Status:       "error",
		ErrorCode:    e.code,
		ErrorInfo: errorInfo{
			Category:         e.category,
			Code:             e.infoCode,
			DeveloperMessage: e.message,
			Fields:           []errorField{},
			Href:             "NA",
			RequestID:        id,
			UserMessage:      e.message,
		},
	}
	if e.field != nil {
		b.ErrorInfo.Fields = append(b.ErrorInfo.Fields, errorField{FieldName: e.field.Field, Reason: e.field.Reason})
		b.ErrorInfo.UserMessage = e.field.Reason
	}
	out, _ := json.Marshal(b)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if e.closeConn {
		w.Header().Set("Connection", "close")
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(out)
	return id
}

var (
	errUnavailable = gatewayError{status: http.StatusServiceUnavailable, code: "vault_unavailable", category: "SERVER_ERROR", infoCode: "SERVICE_UNAVAILABLE",
		message: "The card could not be stored safely; nothing was forwarded. Retry later."}
	errUnauthorized = gatewayError{status: http.StatusUnauthorized, code: "unauthorized", category: "AUTHENTICATION_ERROR", infoCode: "UNAUTHORIZED",
		message: "A valid API key is required to detokenize."}
)

func tooLarge(limit int64) gatewayError {
	return gatewayError{status: http.StatusRequestEntityTooLarge, code: "body_too_large", category: "USER_ERROR", infoCode: "INVALID_INPUT",
		message: "The request body is larger than the gateway accepts (" + humanize.IBytes(uint64(limit)) + ").", closeConn: true}
}

func badBody(status int, code, message string) gatewayError {
	return gatewayError{status: status, code: code, category: "USER_ERROR", infoCode: "INVALID_INPUT", message: message}
}
