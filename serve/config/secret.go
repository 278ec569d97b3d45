package config

import (
	"fmt"
	"strconv"
)

// Format prints Auth with the token redacted, whatever the verb (%v, %+v,
// %#v, %s, %q, %x, %d …), so a Config printed or logged never shows it.
func (a Auth) Format(f fmt.State, verb rune) {
	tok := `""`
	if a.Token != "" {
		tok = "[redacted]"
	}
	if verb == 'v' && f.Flag('#') {
		fmt.Fprintf(f, "config.Auth{TokenFile:%s, Token:%s, OpenEndpoints:%t}", strconv.Quote(a.TokenFile), tok, a.OpenEndpoints)
		return
	}
	if verb == 'v' && f.Flag('+') {
		fmt.Fprintf(f, "{TokenFile:%s Token:%s OpenEndpoints:%t}", a.TokenFile, tok, a.OpenEndpoints)
		return
	}
	fmt.Fprintf(f, "{%s %s %t}", a.TokenFile, tok, a.OpenEndpoints)
}

// String is Auth with the token redacted.
func (a Auth) String() string { return fmt.Sprint(a) }

// GoString is Auth with the token redacted.
func (a Auth) GoString() string { return fmt.Sprintf("%#v", a) }
