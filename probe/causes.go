package probe

import "slices"

// Cause is the short machine-readable reason of a failure: PhaseError.Cause
// and ErrorInfo.Cause (error.cause in --json). The values are the Cause*
// constants; Causes lists them all and docs/result.md says what each means.
//
// Cause is an alias of string, not a type of its own, so that code reading
// or comparing causes as strings (strings.HasPrefix(e.Cause, …),
// "x/"+e.Cause, a map[string] keyed by cause, a string variable passed to
// Errorf) keeps compiling; the constants give the vocabulary its names.
type Cause = string

// Causes of the probe's budget and of the caller.
const (
	// CauseDeadline: a time limit pathlens was given ran out in the phase
	// named by the error: the probe's budget (its context deadline), or in
	// the client package a WithTimeouts bound; class timeout.
	CauseDeadline Cause = "deadline"
	// CauseCanceled: the caller canceled the probe; class canceled.
	CauseCanceled Cause = "canceled"
)

// Causes of class config: the probe was not started or not sent.
const (
	CauseKind       Cause = "kind"       // no prober for the target's kind
	CauseTarget     Cause = "target"     // the target does not parse or is not allowed
	CauseWindow     Cause = "window"     // an HTTP/2 window option out of range
	CauseOption     Cause = "option"     // another setting breaks its rule (Options.Validate)
	CauseRequest    Cause = "request"    // the request could not be built
	CauseMethod     Cause = "method"     // --grpc-method is not /package.Service/Method
	CauseClient     Cause = "client"     // the gRPC client could not be set up
	CauseQType      Cause = "qtype"      // the system resolver cannot ask for that record type
	CauseToken      Cause = "token"      // the WebSocket token source failed or gave an empty token
	CausePermission Cause = "permission" // no ICMP socket could be opened
)

// Causes of the dns and query phases, besides the rcode family
// (RcodeCause).
const (
	// CauseTimeout: the resolver gave up on its own (the system resolver's
	// timeout and attempts, or a DNS exchange without a deadline) while the
	// budget still had time; class dns. When the budget ran out the cause
	// is CauseDeadline.
	CauseTimeout Cause = "timeout"
	// CauseNoAddress: the name has no address of the family asked for.
	CauseNoAddress Cause = "no_address"
	// CauseNoAnswer: a dns:// query got no usable answer (the exchange
	// failed otherwise than by a timeout or a refusal).
	CauseNoAnswer Cause = "no_answer"
)

// Causes derived from a DNS answer's rcode (any but NOERROR): the rcode's
// name in lower case, as RcodeCause maps it; class dns.
const (
	CauseFormErr   Cause = "formerr"
	CauseServFail  Cause = "servfail"
	CauseNXDomain  Cause = "nxdomain"
	CauseNotImp    Cause = "notimp"
	CauseRefused   Cause = "refused" // also a refused TCP connect (class connect)
	CauseYXDomain  Cause = "yxdomain"
	CauseYXRRSet   Cause = "yxrrset"
	CauseNXRRSet   Cause = "nxrrset"
	CauseNotAuth   Cause = "notauth"
	CauseNotZone   Cause = "notzone"
	CauseDSOTypeNI Cause = "dsotypeni"
	CauseBadSig    Cause = "badsig" // also BADVERS (the same code, 16)
	CauseBadKey    Cause = "badkey"
	CauseBadTime   Cause = "badtime"
	CauseBadMode   Cause = "badmode"
	CauseBadName   Cause = "badname"
	CauseBadAlg    Cause = "badalg"
	CauseBadTrunc  Cause = "badtrunc"
	CauseBadCookie Cause = "badcookie"
)

// Causes of the connect and echo phases (CauseRefused too).
const (
	CauseReset         Cause = "reset"          // the connection was reset
	CauseUnreachable   Cause = "unreachable"    // no route to the host or network
	CauseAddressDenied Cause = "address_denied" // every address is in Options.DenyNetworks
	CauseNoReply       Cause = "no_reply"       // no ICMP echo reply at all
)

// Causes of the tls phase. The verify_ family is certificate verification
// by reason (TLSInfo.VerifyReason), as VerifyCause maps it.
const (
	CauseAlert                  Cause = "alert"   // the server sent a TLS alert
	CauseNotTLS                 Cause = "not_tls" // the answer is not a TLS record
	CauseNoH2                   Cause = "no_h2"   // a gRPC server picked another ALPN protocol than h2
	CauseVerifyHostname         Cause = "verify_hostname"
	CauseVerifyExpired          Cause = "verify_expired"
	CauseVerifyNotYetValid      Cause = "verify_not_yet_valid"
	CauseVerifyUnknownAuthority Cause = "verify_unknown_authority"
	CauseVerifyInvalid          Cause = "verify_invalid"
	CauseVerifyOther            Cause = "verify_other"
)

// Causes of HTTP exchanges and of the upgrade of a WebSocket.
const (
	CauseStatus           Cause = "status"             // the status is not in valid_status (or not 101)
	CauseTruncated        Cause = "truncated"          // the body ended before its Content-Length
	CauseTooManyRedirects Cause = "too_many_redirects" // --max-redirects reached
	CauseBadRedirect      Cause = "bad_redirect"       // a Location that does not parse or is not http(s)
	CauseRedirectRefused  Cause = "redirect_refused"   // Options.CheckRedirect refused the next hop
	CauseHeadersTooLarge  Cause = "headers_too_large"  // the header block exceeded the limit
	CauseMalformed        Cause = "malformed"          // the response does not parse as HTTP
	CauseH2               Cause = "h2"                 // an HTTP/2 stream error or GOAWAY
	CauseReadCap          Cause = "read_cap"           // the peer sent more than the probe reads
)

// Causes of class protocol: gRPC, WebSocket and pathlens itself.
const (
	CausePanic          Cause = "panic"            // a prober panicked (a pathlens bug)
	CauseGRPCStatus     Cause = "grpc_status"      // a gRPC status other than OK
	CauseTransport      Cause = "transport"        // no HTTP/2 connection for the call
	CauseNoTrailers     Cause = "no_trailers"      // the stream ended without grpc-status
	CauseRSTStream      Cause = "rst_stream"       // the stream was reset
	CauseBadHealth      Cause = "bad_health"       // the health answer does not decode
	CauseNotServing     Cause = "not_serving"      // the health status is not SERVING
	CauseTooFewMessages Cause = "too_few_messages" // OK after fewer messages than expected
	CauseBadHandshake   Cause = "bad_handshake"    // a 101 that breaks the WebSocket handshake
	CauseInvalidFrame   Cause = "invalid_frame"    // a WebSocket frame that breaks RFC 6455
	CauseAbnormalClose  Cause = "abnormal_close"   // the connection ended without a close frame
)

// Causes of the client package's gRPC calls: the status code's name in
// snake case, as GRPCCodeCause maps it (Canceled is CauseCanceled).
const (
	CauseCodeUnknown            Cause = "unknown"
	CauseCodeInvalidArgument    Cause = "invalid_argument"
	CauseCodeDeadlineExceeded   Cause = "deadline_exceeded"
	CauseCodeNotFound           Cause = "not_found"
	CauseCodeAlreadyExists      Cause = "already_exists"
	CauseCodePermissionDenied   Cause = "permission_denied"
	CauseCodeResourceExhausted  Cause = "resource_exhausted"
	CauseCodeFailedPrecondition Cause = "failed_precondition"
	CauseCodeAborted            Cause = "aborted"
	CauseCodeOutOfRange         Cause = "out_of_range"
	CauseCodeUnimplemented      Cause = "unimplemented"
	CauseCodeInternal           Cause = "internal"
	CauseCodeUnavailable        Cause = "unavailable"
	CauseCodeDataLoss           Cause = "data_loss"
	CauseCodeUnauthenticated    Cause = "unauthenticated"
)

var allCauses = []Cause{
	CauseDeadline, CauseCanceled,
	CauseKind, CauseTarget, CauseWindow, CauseOption, CauseRequest, CauseMethod, CauseClient, CauseQType, CauseToken, CausePermission,
	CauseTimeout, CauseNoAddress, CauseNoAnswer,
	CauseFormErr, CauseServFail, CauseNXDomain, CauseNotImp, CauseRefused, CauseYXDomain, CauseYXRRSet, CauseNXRRSet,
	CauseNotAuth, CauseNotZone, CauseDSOTypeNI, CauseBadSig, CauseBadKey, CauseBadTime, CauseBadMode, CauseBadName,
	CauseBadAlg, CauseBadTrunc, CauseBadCookie,
	CauseReset, CauseUnreachable, CauseAddressDenied, CauseNoReply,
	CauseAlert, CauseNotTLS, CauseNoH2,
	CauseVerifyHostname, CauseVerifyExpired, CauseVerifyNotYetValid, CauseVerifyUnknownAuthority, CauseVerifyInvalid, CauseVerifyOther,
	CauseStatus, CauseTruncated, CauseTooManyRedirects, CauseBadRedirect, CauseRedirectRefused, CauseHeadersTooLarge,
	CauseMalformed, CauseH2, CauseReadCap,
	CausePanic, CauseGRPCStatus, CauseTransport, CauseNoTrailers, CauseRSTStream, CauseBadHealth, CauseNotServing,
	CauseTooFewMessages, CauseBadHandshake, CauseInvalidFrame, CauseAbnormalClose,
	CauseCodeUnknown, CauseCodeInvalidArgument, CauseCodeDeadlineExceeded, CauseCodeNotFound, CauseCodeAlreadyExists,
	CauseCodePermissionDenied, CauseCodeResourceExhausted, CauseCodeFailedPrecondition, CauseCodeAborted,
	CauseCodeOutOfRange, CauseCodeUnimplemented, CauseCodeInternal, CauseCodeUnavailable, CauseCodeDataLoss,
	CauseCodeUnauthenticated,
}

// Causes returns every cause a probe or the client package reports, each
// once, in the order they are declared. An error without a known cause
// has none (ErrorInfo.Cause empty).
func Causes() []Cause { return slices.Clone(allCauses) }

// rcodeCauses maps a DNS rcode to its cause (miekg/dns's RcodeToString,
// lower-cased).
var rcodeCauses = map[int]Cause{
	1: CauseFormErr, 2: CauseServFail, 3: CauseNXDomain, 4: CauseNotImp, 5: CauseRefused,
	6: CauseYXDomain, 7: CauseYXRRSet, 8: CauseNXRRSet, 9: CauseNotAuth, 10: CauseNotZone,
	11: CauseDSOTypeNI, 16: CauseBadSig, 17: CauseBadKey, 18: CauseBadTime, 19: CauseBadMode,
	20: CauseBadName, 21: CauseBadAlg, 22: CauseBadTrunc, 23: CauseBadCookie,
}

// RcodeCause is the cause of a DNS answer with rcode: its name in lower
// case (NXDOMAIN → nxdomain). NOERROR and an rcode without a name have
// none ("").
func RcodeCause(rcode int) Cause { return rcodeCauses[rcode] }

// verifyCauses maps a TLSInfo.VerifyReason to its cause.
var verifyCauses = map[string]Cause{
	"hostname":          CauseVerifyHostname,
	"expired":           CauseVerifyExpired,
	"not_yet_valid":     CauseVerifyNotYetValid,
	"unknown_authority": CauseVerifyUnknownAuthority,
	"invalid":           CauseVerifyInvalid,
	"other":             CauseVerifyOther,
}

// VerifyCause is the cause of a failed certificate verification with
// reason (see VerifyReason): "verify_" and the reason. An unknown reason
// is CauseVerifyOther.
func VerifyCause(reason string) Cause {
	if c, ok := verifyCauses[reason]; ok {
		return c
	}
	return CauseVerifyOther
}

// IsVerifyCause reports whether c is one of the verify_ causes (the
// certificate verification failed).
func IsVerifyCause(c Cause) bool {
	for _, v := range verifyCauses {
		if c == v {
			return true
		}
	}
	return false
}

// grpcCodeCauses is indexed by gRPC status code (google.golang.org/grpc/codes).
var grpcCodeCauses = [...]Cause{
	1: CauseCanceled, 2: CauseCodeUnknown, 3: CauseCodeInvalidArgument, 4: CauseCodeDeadlineExceeded,
	5: CauseCodeNotFound, 6: CauseCodeAlreadyExists, 7: CauseCodePermissionDenied, 8: CauseCodeResourceExhausted,
	9: CauseCodeFailedPrecondition, 10: CauseCodeAborted, 11: CauseCodeOutOfRange, 12: CauseCodeUnimplemented,
	13: CauseCodeInternal, 14: CauseCodeUnavailable, 15: CauseCodeDataLoss, 16: CauseCodeUnauthenticated,
}

// GRPCCodeCause is the cause of a gRPC call that ended with status code
// (a google.golang.org/grpc/codes.Code): the code's name in snake case
// (DeadlineExceeded → deadline_exceeded). OK has none (""); a code gRPC
// does not define is CauseCodeUnknown, as gRPC treats it.
func GRPCCodeCause(code uint32) Cause {
	if code == 0 {
		return ""
	}
	if code < uint32(len(grpcCodeCauses)) {
		return grpcCodeCauses[code]
	}
	return CauseCodeUnknown
}
