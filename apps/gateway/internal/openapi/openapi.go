// Package openapi embeds the public API's OpenAPI document.
package openapi

import _ "embed"

// Document is the OpenAPI 3.1 description of the endpoints that exist.
//
//go:embed openapi.json
var Document []byte
