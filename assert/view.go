package assert

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/pathlens/pathlens/probe"
)

// resultView is r as the variable r shows it: the Result's JSON shape
// (docs/result.md, the field names of --json) as maps, lists and
// scalars, whole numbers as int and the rest as double, times as RFC
// 3339 strings — plus the computed fields: days_left on every
// certificate of tls.chain and tls.verified_chain, and dns.records, the
// answer records taken apart. lazyView builds the same field by field.
func resultView(r *probe.Result) map[string]any {
	m := map[string]any{}
	for _, k := range viewKeys(r) {
		m[k], _ = viewField(r, k)
	}
	return m
}

var resultFields = sync.OnceValue(func() map[string]field {
	m := map[string]field{}
	for _, f := range fieldsOf(reflect.TypeFor[probe.Result]()) {
		m[f.name] = f
	}
	return m
})

// viewKeys are the top-level keys of r's view, in JSON order: the
// fields --json writes (an omitempty one only when set).
func viewKeys(r *probe.Result) []string {
	v := reflect.ValueOf(r).Elem()
	var keys []string
	for _, f := range fieldsOf(v.Type()) {
		if !f.inline && !(f.omitEmpty && isEmpty(v.Field(f.index))) {
			keys = append(keys, f.name)
		}
	}
	return keys
}

// viewField is the view of r's top-level field name, computed fields
// included; false when --json has no such field.
func viewField(r *probe.Result, name string) (any, bool) {
	f, ok := resultFields()[name]
	if !ok {
		return nil, false
	}
	fv := reflect.ValueOf(r).Elem().Field(f.index)
	if f.omitEmpty && isEmpty(fv) {
		return nil, false
	}
	v := jsonValue(fv)
	switch name {
	case "tls":
		if t, ok := v.(map[string]any); ok {
			addDaysLeft(t, "chain", r.TLS.Chain, r.StartedAt)
			addDaysLeft(t, "verified_chain", r.TLS.VerifiedChain, r.StartedAt)
		}
	case "dns":
		if d, ok := v.(map[string]any); ok && len(r.DNS.Answers) > 0 {
			recs := make([]any, len(r.DNS.Answers))
			for i, a := range r.DNS.Answers {
				recs[i] = dnsRecord(a)
			}
			d["records"] = recs
		}
	}
	return v, true
}

// addDaysLeft sets days_left on each certificate of t[key], the view of src.
func addDaysLeft(t map[string]any, key string, src []probe.Cert, now time.Time) {
	certs, _ := t[key].([]any)
	for i, c := range certs {
		if m, ok := c.(map[string]any); ok && i < len(src) {
			m["days_left"] = daysLeft(src[i], now)
		}
	}
}

// lazyView is the value of r: a CEL map whose top-level fields are
// built on first read, so that r.http.status does not pay for the
// HTTP/2 frame timeline. Anything that needs the whole map (equality,
// conversion) builds it all.
type lazyView struct {
	r    *probe.Result
	keys []string
	vals map[string]ref.Val
	full ref.Val
}

func newLazyView(r *probe.Result) *lazyView {
	return &lazyView{r: r, keys: viewKeys(r), vals: map[string]ref.Val{}}
}

func (l *lazyView) whole() ref.Val {
	if l.full == nil {
		l.full = types.DefaultTypeAdapter.NativeToValue(resultView(l.r))
	}
	return l.full
}

// Find is the view of a top-level field.
func (l *lazyView) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	if v, ok := l.vals[string(k)]; ok {
		return v, true
	}
	raw, ok := viewField(l.r, string(k))
	if !ok {
		return nil, false
	}
	v := types.DefaultTypeAdapter.NativeToValue(raw)
	l.vals[string(k)] = v
	return v, true
}

func (l *lazyView) Get(key ref.Val) ref.Val {
	if v, ok := l.Find(key); ok {
		return v
	}
	return types.NewErr("no such key: %v", key)
}

func (l *lazyView) Contains(key ref.Val) ref.Val {
	_, ok := l.Find(key)
	return types.Bool(ok)
}

func (l *lazyView) Size() ref.Val { return types.Int(len(l.keys)) }

func (l *lazyView) Iterator() traits.Iterator {
	return types.NewStringList(types.DefaultTypeAdapter, l.keys).Iterator()
}

func (l *lazyView) ConvertToNative(t reflect.Type) (any, error) { return l.whole().ConvertToNative(t) }

func (l *lazyView) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return l
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from map to '%s'", t)
}

func (l *lazyView) Equal(other ref.Val) ref.Val { return l.whole().Equal(other) }
func (l *lazyView) Type() ref.Type              { return types.MapType }
func (l *lazyView) Value() any                  { return l.whole().Value() }

// daysLeft is the time from the probe's start to c's NotAfter in days,
// to one decimal (negative once expired), as TLS_CERT_EXPIRING counts.
func daysLeft(c probe.Cert, now time.Time) float64 {
	return math.Round(c.NotAfter.Sub(now).Hours()/24*10) / 10
}

// dnsRecord takes an answer record in presentation format apart:
// "www.example.test.\t60\tIN\tA\t127.0.0.1" is name, ttl, class, type and
// data (the rest of the line, as written). An answer of the system
// resolver is a bare value (a TXT string, an MX host): its data alone.
func dnsRecord(rr string) map[string]any {
	f := strings.Fields(rr)
	if len(f) >= 5 {
		if ttl, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			data := rr
			for i := 0; i < 4; i++ {
				data = strings.TrimLeft(data, " \t")
				data = data[len(f[i]):]
			}
			return map[string]any{"name": f[0], "ttl": ttl, "class": f[2], "type": f[3], "data": strings.TrimSpace(data)}
		}
	}
	return map[string]any{"name": "", "ttl": int64(0), "class": "", "type": "", "data": rr}
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
)

// jsonValue is v as encoding/json would write it, decoded again into
// plain values, without the round trip: structs by their json tags
// (omitempty honoured, "-" left out), maps with string keys, nil
// pointers, slices and maps as null. Integers become int64, floats
// float64, so that a field keeps one CEL type whatever its value. A type
// with its own MarshalJSON goes through it.
func jsonValue(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	t := v.Type()
	if t == timeType {
		return v.Interface().(time.Time).Format(time.RFC3339Nano)
	}
	if t.Implements(marshalerType) && (t.Kind() != reflect.Pointer || !v.IsNil()) {
		return viaJSON(v.Interface())
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return jsonValue(v.Elem())
	case reflect.Struct:
		m := map[string]any{}
		structFields(v, m)
		return m
	case reflect.Map:
		if v.IsNil() || t.Key().Kind() != reflect.String {
			return nil
		}
		m := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			m[it.Key().String()] = jsonValue(it.Value())
		}
		return m
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		if t.Elem().Kind() == reflect.Uint8 {
			return viaJSON(v.Interface())
		}
		fallthrough
	case reflect.Array:
		l := make([]any, v.Len())
		for i := range l {
			l[i] = jsonValue(v.Index(i))
		}
		return l
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := v.Uint(); u <= math.MaxInt64 {
			return int64(u)
		}
		return v.Uint()
	case reflect.Float32, reflect.Float64:
		return v.Float()
	}
	return viaJSON(v.Interface())
}

// field is one struct field as encoding/json sees it.
type field struct {
	index     int
	name      string
	omitEmpty bool
	inline    bool // an untagged embedded struct: its fields are the parent's
}

var fieldCache sync.Map // reflect.Type → []field

func fieldsOf(t reflect.Type) []field {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.([]field)
	}
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, hasTag := sf.Tag.Lookup("json")
		if tag == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if sf.Anonymous && (!hasTag || name == "") && ft.Kind() == reflect.Struct {
			fs = append(fs, field{index: i, inline: true})
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		fs = append(fs, field{index: i, name: name, omitEmpty: strings.Contains(","+opts+",", ",omitempty,")})
	}
	fieldCache.Store(t, fs)
	return fs
}

func structFields(v reflect.Value, m map[string]any) {
	for _, f := range fieldsOf(v.Type()) {
		fv := v.Field(f.index)
		if f.inline {
			if fv.Kind() == reflect.Pointer {
				if fv.IsNil() {
					continue
				}
				fv = fv.Elem()
			}
			structFields(fv, m)
			continue
		}
		if f.omitEmpty && isEmpty(fv) {
			continue
		}
		m[f.name] = jsonValue(fv)
	}
}

// isEmpty is encoding/json's omitempty test.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

// viaJSON is x encoded and decoded again, numbers typed as jsonValue
// types them (int64 without fraction or exponent, else float64).
func viaJSON(x any) any {
	b, err := json.Marshal(x)
	if err != nil {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out any
	if d.Decode(&out) != nil {
		return nil
	}
	return typedNumbers(out)
}

func typedNumbers(x any) any {
	switch v := x.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for k, e := range v {
			v[k] = typedNumbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = typedNumbers(e)
		}
	}
	return x
}

var _ traits.Mapper = (*lazyView)(nil)
