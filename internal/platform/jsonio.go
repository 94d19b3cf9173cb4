package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// DefaultMaxBody bounds JSON request bodies.
const DefaultMaxBody = 1 << 20

// DecodeJSON reads one JSON object into v. Unknown fields, wrong types and
// malformed JSON become validation problems that name the field.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasSuffix(strings.Split(ct, ";")[0], "+json") {
		return E(KindUnsupportedMedia, "unsupported-media-type", "the body must be application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, DefaultMaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return Invalid("body", "the body must hold a single JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return Invalid("body", "the body is empty; a JSON object is required")
	case errors.As(err, &mbe):
		return E(KindPayload, "payload-too-large", fmt.Sprintf("the body is larger than %d bytes", mbe.Limit))
	case errors.As(err, &syn):
		return Invalid("body", fmt.Sprintf("malformed JSON at byte %d", syn.Offset))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return Invalid(field, "must be of type "+jsonTypeName(typ.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return Invalid(name, "is not a known field")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Invalid("body", "the JSON body ends early")
	}
	return Invalid("body", "the body is not valid JSON")
}

func jsonTypeName(kind string) string {
	switch kind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "number"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	case "bool":
		return "boolean"
	}
	return kind
}

// WriteJSON writes v as JSON with the status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}
