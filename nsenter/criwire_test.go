package nsenter

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The encodings of criwire.go, checked against k8s.io/cri-api's generated
// types: what sniffer sends decodes into the request it means, and what a
// runtime answers decodes into the fields sniffer reads.

func TestEncodeRequests(t *testing.T) {
	var list runtimeapi.ListPodSandboxRequest
	if err := proto.Unmarshal(encodeListPodSandbox(map[string]string{"app": "web", "tier": ""}), &list); err != nil {
		t.Fatal(err)
	}
	f := list.GetFilter()
	if f == nil || f.State == nil || f.State.State != runtimeapi.PodSandboxState_SANDBOX_READY || f.Id != "" ||
		!reflect.DeepEqual(f.LabelSelector, map[string]string{"app": "web", "tier": ""}) {
		t.Errorf("ListPodSandboxRequest %v", &list)
	}
	var st runtimeapi.PodSandboxStatusRequest
	if err := proto.Unmarshal(encodePodSandboxStatus("abc"), &st); err != nil {
		t.Fatal(err)
	}
	if st.PodSandboxId != "abc" || !st.Verbose {
		t.Errorf("PodSandboxStatusRequest %v", &st)
	}
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeAnswers(t *testing.T) {
	v, err := decodeVersion(marshal(t, &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "containerd", RuntimeVersion: "1.6.20", RuntimeApiVersion: "v1"}))
	if err != nil || v.runtimeName != "containerd" || v.runtimeVersion != "1.6.20" {
		t.Errorf("version %+v, %v", v, err)
	}

	md := func(ns, name string) *runtimeapi.PodSandboxMetadata {
		return &runtimeapi.PodSandboxMetadata{Name: name, Uid: "u-" + name, Namespace: ns, Attempt: 3}
	}
	items, err := decodeListPodSandbox(marshal(t, &runtimeapi.ListPodSandboxResponse{Items: []*runtimeapi.PodSandbox{
		{Id: "a1", Metadata: md("shop", "web"), State: runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: 7, Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"x": "y"}, RuntimeHandler: "runc"},
		{Id: "b2", Metadata: md("kube-system", "dns"), State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY},
	}}))
	want := []sandbox{
		{id: "a1", name: "web", namespace: "shop", ready: true, labels: map[string]string{"app": "web"}},
		{id: "b2", name: "dns", namespace: "kube-system"},
	}
	if err != nil || !reflect.DeepEqual(items, want) {
		t.Errorf("list %+v, %v; want %+v", items, err, want)
	}

	for _, mode := range []runtimeapi.NamespaceMode{runtimeapi.NamespaceMode_POD, runtimeapi.NamespaceMode_NODE} {
		res := &runtimeapi.PodSandboxStatusResponse{
			Status: &runtimeapi.PodSandboxStatus{
				Id: "a1", Metadata: md("shop", "web"), State: runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: 9,
				Network: &runtimeapi.PodSandboxNetworkStatus{Ip: "192.0.2.7", AdditionalIps: []*runtimeapi.PodIP{{Ip: "2001:db8::7"}, {Ip: "not an address"}, {Ip: "::ffff:192.0.2.8"}}},
				Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{Options: &runtimeapi.NamespaceOption{
					Network: mode, Pid: runtimeapi.NamespaceMode_NODE, Ipc: runtimeapi.NamespaceMode_NODE,
				}}},
				Labels:      map[string]string{"app": "web", "tier": "front"},
				Annotations: map[string]string{"a": "b"},
			},
			Info:      map[string]string{"info": `{"pid":42}`, "other": "x"},
			Timestamp: 11,
		}
		s, info, err := decodePodSandboxStatus(marshal(t, res))
		want := sandbox{id: "a1", name: "web", namespace: "shop", ready: true, labels: map[string]string{"app": "web", "tier": "front"}, hostNetwork: mode == runtimeapi.NamespaceMode_NODE,
			ips: []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("192.0.2.8")}}
		if err != nil || !reflect.DeepEqual(s, want) || info["info"] != `{"pid":42}` || len(info) != 2 {
			t.Errorf("status (network %v): %+v %v, %v; want %+v", mode, s, info, err, want)
		}
	}
	if _, _, err := decodePodSandboxStatus([]byte{0x0a, 0x05, 0x01}); err == nil {
		t.Error("a truncated message decodes")
	}
}

// FuzzDecodeCRI: whatever the runtime answers, the decoders return or
// fail, never panic.
func FuzzDecodeCRI(f *testing.F) {
	f.Add(marshalF(&runtimeapi.ListPodSandboxResponse{Items: []*runtimeapi.PodSandbox{{Id: "a", Metadata: &runtimeapi.PodSandboxMetadata{Name: "n", Namespace: "ns"}, Labels: map[string]string{"k": "v"}}}}))
	f.Add(marshalF(&runtimeapi.PodSandboxStatusResponse{Status: &runtimeapi.PodSandboxStatus{Id: "a", Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{Options: &runtimeapi.NamespaceOption{Network: 2}}}}, Info: map[string]string{"info": "{}"}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeVersion(b)
		decodeListPodSandbox(b)
		decodePodSandboxStatus(b)
	})
}

func marshalF(m proto.Message) []byte {
	b, _ := proto.Marshal(m)
	return b
}

// TestCallStatus: a gRPC failure status, in the trailers or alone in the
// headers, is an error with its code; a missing status is an error too.
func TestCallStatus(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "cri.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.ProtoMajor != 2 || r.Header.Get("Content-Type") != "application/grpc" || len(body) < 5 || int(binary.BigEndian.Uint32(body[1:5])) != len(body)-5 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		method := strings.TrimPrefix(r.URL.Path, criService)
		w.Header().Set("Content-Type", "application/grpc")
		switch method {
		case "Version":
			w.Header().Set("Trailer", "Grpc-Status")
			msg := marshalF(&runtimeapi.VersionResponse{RuntimeName: "fake", RuntimeVersion: "1"})
			frame := make([]byte, 5, 5+len(msg))
			binary.BigEndian.PutUint32(frame[1:], uint32(len(msg)))
			w.Write(append(frame, msg...))
			w.Header().Set("Grpc-Status", "0")
		case "PodSandboxStatus":
			w.Header().Set("Grpc-Status", "5")
			w.Header().Set("Grpc-Message", "sandbox not found")
		default:
			// no status at all
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	c, err := ConnectCRI(context.Background(), "unix://"+sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Runtime() != "fake 1" {
		t.Errorf("runtime %q", c.Runtime())
	}
	if p, err := c.status(context.Background(), "x"); err != nil || p.ID != "" {
		t.Errorf("status of a sandbox not found: %+v, %v; want none, no error", p, err)
	}
	if _, err := c.Pods(context.Background(), "", "", nil); err == nil || !strings.Contains(err.Error(), "no gRPC status") {
		t.Errorf("an answer without status: %v", err)
	}
}
