package store

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"sync"
)

// A stored document (docs.doc, latest.doc, doc_bases.doc) is a Result's
// JSON behind one format byte.
const (
	docRaw   byte = 0 // the JSON as is
	docFlate byte = 1 // deflate (RFC 1951) of the JSON
	// docDelta is deflate of the JSON with the JSON of a base (docs.base,
	// an earlier document of the same target) as preset dictionary: runs
	// of one target differ in timings, ports and counters, so a document
	// costs a tenth to a twentieth of its compressed size alone.
	docDelta  byte = 2
	docIsBase byte = 3 // nothing follows: the document is its base's JSON
)

// rebaseRatio: a document whose delta exceeds 1/rebaseRatio of its JSON
// becomes its target's new base (the target changed: new certificates,
// new findings, another kind of failure).
const rebaseRatio = 8

var (
	writers = sync.Pool{New: func() any { w, _ := flate.NewWriter(nil, flate.DefaultCompression); return w }}
	readers = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}
)

// encodeFlate is js as a docFlate document (bases and converted
// documents).
func encodeFlate(js []byte) []byte {
	w := writers.Get().(*flate.Writer)
	defer writers.Put(w)
	var buf bytes.Buffer
	buf.Grow(len(js)/3 + 16)
	buf.WriteByte(docFlate)
	w.Reset(&buf)
	w.Write(js) // a bytes.Buffer does not fail
	w.Close()
	return buf.Bytes()
}

// encodeDelta is js as a docDelta document against base's JSON.
func encodeDelta(js, base []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(js)/8 + 16)
	buf.WriteByte(docDelta)
	// compress/flate cannot reset a writer to another dictionary; a
	// writer per document is the price (about 0.4 ms), paid only for the
	// runs whose whole document is kept.
	w, err := flate.NewWriterDict(&buf, flate.DefaultCompression, base)
	if err != nil {
		panic(err) // only for an invalid level
	}
	w.Write(js)
	w.Close()
	return buf.Bytes()
}

// needsBase reports whether document doc can only be read with its base.
func needsBase(doc []byte) bool {
	return len(doc) > 0 && (doc[0] == docDelta || doc[0] == docIsBase)
}

var errDocFormat = errors.New("unknown document format")

// decodeDoc returns the JSON of document doc; base is the JSON of its
// base when needsBase(doc).
func decodeDoc(doc, base []byte) ([]byte, error) {
	if len(doc) == 0 {
		return nil, errDocFormat
	}
	switch doc[0] {
	case docRaw:
		return doc[1:], nil
	case docIsBase:
		if base == nil {
			return nil, errors.New("document without its base")
		}
		return base, nil
	case docFlate, docDelta:
		if doc[0] == docDelta && base == nil {
			return nil, errors.New("document without its base")
		}
		r := readers.Get().(io.ReadCloser)
		defer readers.Put(r)
		var dict []byte
		if doc[0] == docDelta {
			dict = base
		}
		if err := r.(flate.Resetter).Reset(bytes.NewReader(doc[1:]), dict); err != nil {
			return nil, err
		}
		var out bytes.Buffer
		out.Grow(4 * len(doc))
		if _, err := out.ReadFrom(r); err != nil {
			return nil, fmt.Errorf("inflate document: %w", err)
		}
		return out.Bytes(), nil
	}
	return nil, errDocFormat
}
