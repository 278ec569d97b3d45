package web

import (
	"html/template"
	"strings"
	"unicode/utf8"
)

// maxBannerError bounds the reload error a banner shows, in characters.
const maxBannerError = 500

// reloadNotice is what the reload banner says.
type reloadNotice struct {
	At  string
	Err string // one line
}

// addReloadBanner defines the layout's "reload-banner" on every page:
// while Deps.ReloadError reports a failed reload, each page says so at
// its top, with the error on one line (html/template escapes it). The
// login page, which is shown before the token is given, never does.
func (s *server) addReloadBanner() {
	funcs := template.FuncMap{"reloadFailure": s.reloadFailure}
	for name, t := range s.pages {
		s.pages[name] = template.Must(t.Funcs(funcs).ParseFS(uiFS, "ui/templates/banner.html"))
	}
}

// reloadFailure is the banner of page data, nil when there is none.
func (s *server) reloadFailure(data any) *reloadNotice {
	if s.d.ReloadError == nil {
		return nil
	}
	if _, login := data.(*loginPage); login {
		return nil
	}
	at, err := s.d.ReloadError()
	if err == nil {
		return nil
	}
	return &reloadNotice{At: fmtTime(at), Err: oneLine(err.Error(), maxBannerError)}
}

// oneLine is s with its runs of white space (newlines too) made one
// space, cut to limit characters.
func oneLine(s string, limit int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return string(r[:limit-1]) + "…"
}
