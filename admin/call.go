package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

// maxCallBody bounds the request body of POST /v1/call.
const maxCallBody = 1 << 20

// errCallsOff answers POST /v1/call when Options.Calls is not set. It
// names the setting of mesh.Config that sets it.
var errCallsOff = errors.New("calls through the admin endpoint are off (Config.AdminCalls)")

// errNotJSON answers POST /v1/call with a body of another type. Browsers
// send forms and text/plain across sites without asking the endpoint
// first (CORS's simple requests), but never application/json: requiring
// it keeps a web page an operator visits from calling processes.
var errNotJSON = errors.New("the body must be sent with Content-Type: application/json")

// call calls a process with a payload given as protobuf JSON, of a message
// type linked into this program, and answers with the reply as the JSON
// form of a google.protobuf.Any. It is refused unless Options.Calls is
// set, for a body that is not application/json (415) and for a timeout
// over the handler's maxCallTimeout.
func (h *handler) call(w http.ResponseWriter, r *http.Request) {
	if !h.calls {
		writeError(w, http.StatusForbidden, errCallsOff)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, errNotJSON)
		return
	}
	var req CallRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCallBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return
	}
	payload, err := decodePayload(req.Type, req.Payload)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx := r.Context()
	if req.Timeout != "" {
		d, err := time.ParseDuration(req.Timeout)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("timeout %q: want a positive duration such as 2s", req.Timeout))
			return
		}
		if d > h.maxCallTimeout {
			writeError(w, http.StatusBadRequest, fmt.Errorf("timeout %q: want at most %v, the node's CallTimeout", req.Timeout, h.maxCallTimeout))
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	start := h.now()
	reply, outcome, err := h.node.Call(ctx, req.Capability, req.ID, payload)
	took := h.now().Sub(start)
	if err != nil {
		writeJSON(w, statusOf(err, http.StatusBadGateway), CallError{
			Node: h.node.Name(), Error: err.Error(), Outcome: outcome, TookMs: millis(took),
		})
		return
	}
	b, err := encodeReply(reply)
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusOK, CallReply{Node: h.node.Name(), Reply: b, TookMs: millis(took)})
}

// decodePayload makes the message of type typ from its protobuf JSON, or,
// when typ is empty, from the JSON form of a google.protobuf.Any. The type
// must be linked into this program (protoregistry.GlobalTypes).
func decodePayload(typ string, raw json.RawMessage) (proto.Message, error) {
	if len(raw) == 0 {
		return nil, errors.New("payload is missing")
	}
	if typ == "" {
		var a anypb.Any
		if err := protojson.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("payload (no type given, so an Any with @type): %w", err)
		}
		m, err := a.UnmarshalNew()
		if err != nil {
			return nil, fmt.Errorf("payload of type %s: %w", a.GetTypeUrl(), err)
		}
		return m, nil
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ))
	if err != nil {
		return nil, fmt.Errorf("type %q is not linked into this node: %w", typ, err)
	}
	m := mt.New().Interface()
	if err := protojson.Unmarshal(raw, m); err != nil {
		return nil, fmt.Errorf("payload as %s: %w", typ, err)
	}
	return m, nil
}

// encodeReply writes reply as the protobuf JSON of a google.protobuf.Any.
func encodeReply(reply proto.Message) (json.RawMessage, error) {
	a, err := anypb.New(reply)
	if err == nil {
		var b []byte
		if b, err = protojson.Marshal(a); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("reply %T: %w", reply, err)
}
