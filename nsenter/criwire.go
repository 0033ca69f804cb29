package nsenter

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
)

// The CRI is a gRPC service. sniffer calls three of its methods (Version,
// ListPodSandbox, PodSandboxStatus) and reads a few fields of their
// answers: this file speaks just that, gRPC over HTTP/2 without TLS on the
// unix socket, with the messages encoded and decoded by field number (of
// k8s.io/cri-api's api.proto, runtime.v1, with protobuf's protowire),
// instead of linking grpc and the generated API into the binary: they
// would grow the static binary, and with it the sidecar image, by about
// two fifths (the image test bounds its size) for three calls. The tests
// check these encodings against cri-api's generated types, and talk to a
// real containerd.

// criService is the gRPC service path of the CRI's runtime service.
const criService = "/runtime.v1.RuntimeService/"

// grpcNotFound is gRPC's status code NOT_FOUND.
const grpcNotFound = 5

// maxCRIMessage bounds an answer: a node's pod list is far smaller.
const maxCRIMessage = 16 << 20

// grpcError is a gRPC call's failure status.
type grpcError struct {
	code int
	msg  string
}

func (e *grpcError) Error() string { return fmt.Sprintf("rpc error: code %d: %s", e.code, e.msg) }

// isNotFound reports whether err is gRPC's NOT_FOUND.
func isNotFound(err error) bool {
	var ge *grpcError
	return errors.As(err, &ge) && ge.code == grpcNotFound
}

// criConn calls the CRI's methods on a unix socket.
type criConn struct {
	client *http.Client
	tr     *http.Transport
}

func newCRIConn(path string) *criConn {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{
		Protocols: &p,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	return &criConn{client: &http.Client{Transport: tr}, tr: tr}
}

func (c *criConn) close() { c.tr.CloseIdleConnections() }

// call sends the encoded request req to method and returns the encoded
// answer.
func (c *criConn) call(ctx context.Context, method string, req []byte) ([]byte, error) {
	body := make([]byte, 5, 5+len(req))
	binary.BigEndian.PutUint32(body[1:], uint32(len(req)))
	body = append(body, req...)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://localhost"+criService+method, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/grpc")
	hr.Header.Set("TE", "trailers")
	res, err := c.client.Do(hr)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP status %s", method, res.Status)
	}
	// An error without a message comes as headers alone
	// (Trailers-Only).
	if err := grpcStatus(res.Header); err != nil {
		return nil, err
	}
	var msg []byte
	var head [5]byte
	for {
		if _, err := io.ReadFull(res.Body, head[:]); err != nil {
			if err == io.EOF {
				break
			}
			return nil, fmt.Errorf("%s: read the answer: %v", method, err)
		}
		n := binary.BigEndian.Uint32(head[1:])
		if head[0] != 0 {
			return nil, fmt.Errorf("%s: compressed answer (flag %d)", method, head[0])
		}
		if n > maxCRIMessage {
			return nil, fmt.Errorf("%s: answer of %d bytes, more than %d", method, n, maxCRIMessage)
		}
		msg = make([]byte, n)
		if _, err := io.ReadFull(res.Body, msg); err != nil {
			return nil, fmt.Errorf("%s: read the answer: %v", method, err)
		}
	}
	if err := grpcStatus(res.Trailer); err != nil {
		return nil, err
	}
	if res.Trailer.Get("Grpc-Status") == "" && res.Header.Get("Grpc-Status") == "" {
		return nil, fmt.Errorf("%s: the answer has no gRPC status", method)
	}
	return msg, nil
}

// grpcStatus returns the failure h's grpc-status reports, or nil.
func grpcStatus(h http.Header) error {
	s := h.Get("Grpc-Status")
	if s == "" || s == "0" {
		return nil
	}
	code, err := strconv.Atoi(s)
	if err != nil {
		code = 2 // UNKNOWN
	}
	return &grpcError{code: code, msg: h.Get("Grpc-Message")}
}

// Requests, encoded.

// encodeListPodSandbox encodes ListPodSandboxRequest{filter:
// {state: {state: SANDBOX_READY}, label_selector: selector}}.
func encodeListPodSandbox(selector map[string]string) []byte {
	var f []byte
	// state: PodSandboxStateValue{SANDBOX_READY}: READY is 0, the
	// default, so the message is present and empty.
	f = protowire.AppendTag(f, 2, protowire.BytesType)
	f = protowire.AppendBytes(f, nil)
	for k, v := range selector {
		var e []byte
		e = protowire.AppendTag(e, 1, protowire.BytesType)
		e = protowire.AppendString(e, k)
		e = protowire.AppendTag(e, 2, protowire.BytesType)
		e = protowire.AppendString(e, v)
		f = protowire.AppendTag(f, 3, protowire.BytesType)
		f = protowire.AppendBytes(f, e)
	}
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	return protowire.AppendBytes(b, f)
}

// encodePodSandboxStatus encodes PodSandboxStatusRequest{pod_sandbox_id:
// id, verbose: true}.
func encodePodSandboxStatus(id string) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, id)
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	return protowire.AppendVarint(b, 1)
}

// Answers, decoded.

// errBadMessage: an answer that is not a valid encoding.
var errBadMessage = errors.New("malformed protobuf message")

// fields calls fn for each field of the encoded message b: its number,
// its wire type, its varint value (VarintType) or bytes (BytesType).
// Other wire types are skipped.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errBadMessage
		}
		b = b[n:]
		var v uint64
		var bs []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			bs, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errBadMessage
		}
		b = b[n:]
		if err := fn(num, typ, v, bs); err != nil {
			return err
		}
	}
	return nil
}

// versionAnswer is what sniffer reads of VersionResponse.
type versionAnswer struct {
	runtimeName, runtimeVersion string
}

func decodeVersion(b []byte) (versionAnswer, error) {
	var v versionAnswer
	err := fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, bs []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 2:
			v.runtimeName = string(bs)
		case 3:
			v.runtimeVersion = string(bs)
		}
		return nil
	})
	return v, err
}

// sandbox is what sniffer reads of PodSandbox and PodSandboxStatus
// (their common fields have the same numbers: id 1, metadata 2, state 3).
type sandbox struct {
	id, name, namespace string
	ready               bool
	labels              map[string]string
	hostNetwork         bool         // PodSandboxStatus only
	ips                 []netip.Addr // PodSandboxStatus only: network.ip, network.additional_ips
}

// decodeListPodSandbox decodes ListPodSandboxResponse: items (1).
func decodeListPodSandbox(b []byte) ([]sandbox, error) {
	var items []sandbox
	err := fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, bs []byte) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		s, err := decodeSandbox(bs, 5)
		items = append(items, s)
		return err
	})
	return items, err
}

// decodeSandbox decodes a PodSandbox (labels: field 5) or a
// PodSandboxStatus (labels 7, linux 6).
func decodeSandbox(b []byte, labelsField protowire.Number) (sandbox, error) {
	s := sandbox{ready: true} // SANDBOX_READY is 0: absent
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			s.id = string(bs)
		case num == 2 && typ == protowire.BytesType:
			return fields(bs, func(num protowire.Number, typ protowire.Type, _ uint64, bs []byte) error {
				switch {
				case num == 1 && typ == protowire.BytesType:
					s.name = string(bs)
				case num == 3 && typ == protowire.BytesType:
					s.namespace = string(bs)
				}
				return nil
			})
		case num == 3 && typ == protowire.VarintType:
			s.ready = v == 0
		case num == labelsField && typ == protowire.BytesType:
			k, val, err := decodeMapEntry(bs)
			if err != nil {
				return err
			}
			if s.labels == nil {
				s.labels = map[string]string{}
			}
			s.labels[k] = val
		case labelsField == 7 && num == 5 && typ == protowire.BytesType:
			return decodePodIPs(bs, &s.ips)
		case labelsField == 7 && num == 6 && typ == protowire.BytesType:
			// linux.namespaces(1).options(2).network(1) == NODE (2)
			return nestedVarint(bs, []protowire.Number{1, 2}, 1, func(mode uint64) { s.hostNetwork = mode == 2 })
		}
		return nil
	})
	return s, err
}

// maxPodIPs bounds the addresses read of one pod (a pod has one per IP
// family).
const maxPodIPs = 16

// decodePodIPs decodes a PodSandboxNetworkStatus: ip (1), additional_ips
// (2, PodIP: ip 1). An address that does not parse is left out.
func decodePodIPs(b []byte, ips *[]netip.Addr) error {
	add := func(s []byte) {
		if ip, err := netip.ParseAddr(string(s)); err == nil && len(*ips) < maxPodIPs {
			*ips = append(*ips, ip.Unmap())
		}
	}
	return fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, bs []byte) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			add(bs)
		case num == 2 && typ == protowire.BytesType:
			return fields(bs, func(num protowire.Number, typ protowire.Type, _ uint64, bs []byte) error {
				if num == 1 && typ == protowire.BytesType {
					add(bs)
				}
				return nil
			})
		}
		return nil
	})
}

// nestedVarint finds, in b, the message at path (field numbers of nested
// messages) and calls fn with the varint field num of it.
func nestedVarint(b []byte, path []protowire.Number, num protowire.Number, fn func(uint64)) error {
	return fields(b, func(n protowire.Number, typ protowire.Type, v uint64, bs []byte) error {
		switch {
		case len(path) > 0 && n == path[0] && typ == protowire.BytesType:
			return nestedVarint(bs, path[1:], num, fn)
		case len(path) == 0 && n == num && typ == protowire.VarintType:
			fn(v)
		}
		return nil
	})
}

// decodeMapEntry decodes a map<string, string> entry: key 1, value 2.
func decodeMapEntry(b []byte) (k, v string, err error) {
	err = fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, bs []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			k = string(bs)
		case 2:
			v = string(bs)
		}
		return nil
	})
	return k, v, err
}

// decodePodSandboxStatus decodes PodSandboxStatusResponse: status (1) and
// info (2).
func decodePodSandboxStatus(b []byte) (sandbox, map[string]string, error) {
	var s sandbox
	var info map[string]string
	err := fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, bs []byte) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			var err error
			s, err = decodeSandbox(bs, 7)
			return err
		case 2:
			k, v, err := decodeMapEntry(bs)
			if err != nil {
				return err
			}
			if info == nil {
				info = map[string]string{}
			}
			info[k] = v
		}
		return nil
	})
	return s, info, err
}
