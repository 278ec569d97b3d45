package wsx

import (
	"github.com/pathlens/pathlens/probe/token"
)

// The token sources live in package probe/token. These names keep code
// written against wsx compiling; new code should use probe/token.

// DefaultJWTTTL is the lifetime of a minted JWT when none is given.
//
// Deprecated: Use token.DefaultJWTTTL.
const DefaultJWTTTL = token.DefaultJWTTTL

// StaticToken is a fixed bearer token.
//
// Deprecated: Use token.Static.
type StaticToken = token.Static

// JWTConfig describes a JWT to mint for every probe.
//
// Deprecated: Use token.JWTConfig.
type JWTConfig = token.JWTConfig

// JWTSource mints a JWT for each probe.
//
// Deprecated: Use token.JWTSource.
type JWTSource = token.JWTSource

// NewStaticToken wraps a fixed token; kind names its route.
//
// Deprecated: Use token.NewStatic.
func NewStaticToken(value, kind string) (*StaticToken, error) { return token.NewStatic(value, kind) }

// ReadTokenFile reads a token file.
//
// Deprecated: Use token.ReadFile.
func ReadTokenFile(path string) (string, error) { return token.ReadFile(path) }

// BearerFromHeader returns the token of an "Authorization: Bearer …" header.
//
// Deprecated: Use token.BearerFromHeader.
func BearerFromHeader(v string) (string, bool) { return token.BearerFromHeader(v) }

// NewJWTSource loads the secret or key of c.
//
// Deprecated: Use token.NewJWTSource.
func NewJWTSource(c JWTConfig) (*JWTSource, error) { return token.NewJWTSource(c) }

// ParseClaims parses a JSON object of extra claims.
//
// Deprecated: Use token.ParseClaims.
func ParseClaims(text string) (map[string]any, error) { return token.ParseClaims(text) }
