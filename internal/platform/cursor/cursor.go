// Package cursor is the one format of the opaque "cursor" every list takes:
// base64url JSON of an offset and the list it belongs to, so a cursor from
// one list (or one sort order) is refused by another.
package cursor

import (
	"encoding/base64"
	"encoding/json"

	"github.com/harmonia-music/harmonia/internal/platform/fault"
)

type position struct {
	Offset int    `json:"o"`
	List   string `json:"s"`
}

// Encode makes the cursor of offset in list.
func Encode(offset int, list string) string {
	b, _ := json.Marshal(position{offset, list})
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode reads a cursor made by Encode for the same list; "" is the start.
// Anything else is a 400 naming the field "cursor".
func Decode(s, list string) (int, error) {
	if s == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	var p position
	if err != nil || json.Unmarshal(b, &p) != nil || p.Offset < 0 || p.List != list {
		return 0, fault.Invalid("cursor", "is not a cursor from this list; start again without it")
	}
	return p.Offset, nil
}
