package store

import (
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pathlens/pathlens/probe"
)

// Bounds of the HTTP/2 block kept in a stored Result. The frame tap
// (probe/h2tap) keeps up to about 2,100 frames per connection, around 100
// bytes of JSON each, and as many settings as the server names: a server
// that floods frames (PINGs, RST_STREAMs, SETTINGS) would make every stored
// run of its target 150 KB to megabytes. The stored copy keeps how the
// connection started and ended and the frames that explain a failure;
// Counts and FramesTotal stay whole.
const (
	storedHeadFrames    = 32 // the first frames: preface, SETTINGS, the request
	storedTailFrames    = 32 // the last frames: how the connection ended
	storedNotableFrames = 64 // RST_STREAM, GOAWAY and SETTINGS frames in between
	storedStalls        = 16 // the first flow-control stalls
	storedStreams       = 16 // the first streams' summaries (pathlens's own come first)
	storedSettings      = 16 // settings per side; the standard ones first
	storedFrameSettings = 8  // settings listed in one SETTINGS frame
	storedFrameDebug    = 32 // bytes of GOAWAY debug data in one frame (GoAway keeps the tap's 256)
)

// compactH2 returns the HTTP/2 block to store for h.
//
// Of Frames it keeps, in wire order, the first storedHeadFrames and the
// last storedTailFrames, and in between the RST_STREAM and GOAWAY frames,
// then the SETTINGS frames, up to storedNotableFrames in all; FramesDropped
// grows by the frames left out, so that len(Frames)+FramesDropped is still
// FramesTotal. A kept frame lists at most storedFrameSettings settings and
// storedFrameDebug bytes of debug data. Stalls and Streams keep their first
// storedStalls and storedStreams entries, Settings at most storedSettings
// per side. Counts, GoAway, Exhausted and the parse error are kept as they
// are.
//
// h is not modified: it is the Result that metrics and the in-memory
// latest run still use. When nothing needs trimming, h itself is returned;
// otherwise the copy has its own slices and maps wherever it differs from
// h, and shares the rest (read-only).
func compactH2(h *probe.H2Info) *probe.H2Info {
	if h == nil || !needsCompact(h) {
		return h
	}
	c := *h
	if len(h.Frames) > storedHeadFrames+storedTailFrames+storedNotableFrames {
		c.Frames = compactFrames(h.Frames)
		c.FramesDropped += len(h.Frames) - len(c.Frames)
	} else {
		c.Frames = slices.Clone(h.Frames)
	}
	for i := range c.Frames {
		f := &c.Frames[i]
		f.Settings = boundSettings(f.Settings, storedFrameSettings)
		f.Debug = boundDebug(f.Debug)
	}
	if len(h.Stalls) > storedStalls {
		c.Stalls = h.Stalls[:storedStalls:storedStalls]
	}
	if len(h.Streams) > storedStreams {
		c.Streams = h.Streams[:storedStreams:storedStreams]
	}
	if h.Settings != nil {
		c.Settings = make(map[string]map[string]uint32, len(h.Settings))
		for side, m := range h.Settings {
			c.Settings[side] = boundSettings(m, storedSettings)
		}
	}
	return &c
}

// needsCompact reports whether any bound of compactH2 applies to h.
func needsCompact(h *probe.H2Info) bool {
	if len(h.Frames) > storedHeadFrames+storedTailFrames+storedNotableFrames ||
		len(h.Stalls) > storedStalls || len(h.Streams) > storedStreams {
		return true
	}
	for _, m := range h.Settings {
		if len(m) > storedSettings {
			return true
		}
	}
	for i := range h.Frames {
		if len(h.Frames[i].Settings) > storedFrameSettings || len(h.Frames[i].Debug) > storedFrameDebug {
			return true
		}
	}
	return false
}

// compactFrames picks the frames compactH2 keeps, in their original order,
// into a new slice.
func compactFrames(frames []probe.H2Frame) []probe.H2Frame {
	head, tail := storedHeadFrames, len(frames)-storedTailFrames
	keep := make([]bool, len(frames))
	budget := storedNotableFrames
	// RST_STREAM and GOAWAY say why streams or the connection ended; they
	// go first. SETTINGS (and their ACKs) take what room is left.
	for _, notable := range []func(t string) bool{
		func(t string) bool { return t == "RST_STREAM" || t == "GOAWAY" },
		func(t string) bool { return t == "SETTINGS" },
	} {
		for i := head; i < tail && budget > 0; i++ {
			if !keep[i] && notable(frames[i].Type) {
				keep[i] = true
				budget--
			}
		}
	}
	out := make([]probe.H2Frame, 0, storedHeadFrames+storedTailFrames+storedNotableFrames-budget)
	out = append(out, frames[:head]...)
	for i := head; i < tail; i++ {
		if keep[i] {
			out = append(out, frames[i])
		}
	}
	return append(out, frames[tail:]...)
}

// boundSettings returns m, or when it names more than n settings a new map
// of n of them: the ones RFC 9113 and its extensions define first (x/net
// names the others UNKNOWN_SETTING_ID), then by name.
func boundSettings(m map[string]uint32, n int) map[string]uint32 {
	if len(m) <= n {
		return m
	}
	names := slices.SortedFunc(maps.Keys(m), func(a, b string) int {
		ua, ub := strings.HasPrefix(a, "UNKNOWN_"), strings.HasPrefix(b, "UNKNOWN_")
		switch {
		case ua != ub && ub:
			return -1
		case ua != ub:
			return 1
		}
		return strings.Compare(a, b)
	})
	out := make(map[string]uint32, n)
	for _, k := range names[:n] {
		out[k] = m[k]
	}
	return out
}

// boundDebug cuts GOAWAY debug data to storedFrameDebug bytes (on a rune
// boundary), marked with "…" like the tap's own cut.
func boundDebug(s string) string {
	if len(s) <= storedFrameDebug {
		return s
	}
	cut := storedFrameDebug
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
