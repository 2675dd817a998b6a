package protocol

import "fmt"

// Implementations behind the exported Decode*/Encode* functions of api.go.
// BARE layouts follow src/common/bare/generated/client-protocol/v*.ts, the
// JSON/CBOR object shapes follow src/common/client-protocol-zod.ts (member
// order as zod's parse output, i.e. schema order).

func decodeErr(what string, err error) error { return fmt.Errorf("decode %s: %w", what, err) }
func encodeErr(what string, err error) error { return fmt.Errorf("encode %s: %w", what, err) }

// Values.

func jsonToValue(doc []byte) ([]byte, error) {
	v, err := decodeJSONValue(doc)
	if err != nil {
		return nil, decodeErr("json value", err)
	}
	return encodeCanonical(&v), nil
}

func valueToJSON(b []byte) ([]byte, error) {
	v, err := parseCanonical(b)
	if err != nil {
		return nil, encodeErr("json value", err)
	}
	var w jsonWriter
	if err := w.emit(&v); err != nil {
		return nil, encodeErr("json value", err)
	}
	return w.buf, nil
}

func compatCBORToValue(b []byte) ([]byte, error) {
	v, err := decodeValue(b, true)
	if err != nil {
		return nil, decodeErr("compat cbor value", err)
	}
	return encodeCanonical(&v), nil
}

func valueToCompatCBOR(b []byte) ([]byte, error) {
	v, err := parseCanonical(b)
	if err != nil {
		return nil, encodeErr("compat cbor value", err)
	}
	var w cborWriter
	w.emit(&v, modeCompat)
	return w.buf, nil
}

// HTTP action.

func decodeHTTPActionRequest(enc Encoding, body []byte) (HTTPActionRequest, error) {
	const what = "http action request"
	var m HTTPActionRequest
	var v *value
	var err error
	if enc == EncodingBARE {
		var r *bareReader
		if r, _, err = openBARE(body, 1); err != nil {
			return m, decodeErr(what, err)
		}
		if m.Args, v, err = r.value(); err != nil {
			return m, decodeErr(what, err)
		}
		if err = r.end(); err != nil {
			return m, decodeErr(what, err)
		}
	} else {
		f, err := decodeDoc(enc, body)
		if err != nil {
			return m, decodeErr(what, err)
		}
		if m.Args, v, err = f.val("args"); err != nil {
			return m, decodeErr(what, err)
		}
	}
	if err := requireArray(v, "args"); err != nil {
		return HTTPActionRequest{}, decodeErr(what, err)
	}
	return m, nil
}

func encodeHTTPActionRequest(enc Encoding, m HTTPActionRequest) ([]byte, error) {
	const what = "http action request"
	args, err := argsValue(m.Args)
	if err != nil {
		return nil, encodeErr(what, err)
	}
	switch enc {
	case EncodingBARE:
		w := newBAREWriter()
		w.value(&args)
		return w.buf, nil
	case EncodingJSON, EncodingCBOR:
		d := newDoc(enc)
		d.begin(1)
		d.key("args")
		if err := d.val(&args); err != nil {
			return nil, encodeErr(what, err)
		}
		d.end()
		return d.bytes(), nil
	}
	return nil, errUnknownEncoding(enc)
}

func decodeHTTPActionResponse(enc Encoding, body []byte) (HTTPActionResponse, error) {
	const what = "http action response"
	var m HTTPActionResponse
	if enc == EncodingBARE {
		r, _, err := openBARE(body, 1)
		if err != nil {
			return m, decodeErr(what, err)
		}
		if m.Output, _, err = r.value(); err != nil {
			return m, decodeErr(what, err)
		}
		if err = r.end(); err != nil {
			return HTTPActionResponse{}, decodeErr(what, err)
		}
		return m, nil
	}
	f, err := decodeDoc(enc, body)
	if err != nil {
		return m, decodeErr(what, err)
	}
	if m.Output, _, err = f.val("output"); err != nil {
		return HTTPActionResponse{}, decodeErr(what, err)
	}
	return m, nil
}

func encodeHTTPActionResponse(enc Encoding, m HTTPActionResponse) ([]byte, error) {
	const what = "http action response"
	out, err := userValue(m.Output)
	if err != nil {
		return nil, encodeErr(what, err)
	}
	switch enc {
	case EncodingBARE:
		w := newBAREWriter()
		w.value(&out)
		return w.buf, nil
	case EncodingJSON, EncodingCBOR:
		d := newDoc(enc)
		d.begin(1)
		if err := d.member("output", &out); err != nil {
			return nil, encodeErr(what, err)
		}
		d.end()
		return d.bytes(), nil
	}
	return nil, errUnknownEncoding(enc)
}

// HTTP queue.

func decodeHTTPQueueSendRequest(enc Encoding, body []byte) (HTTPQueueSendRequest, error) {
	const what = "http queue send request"
	var m HTTPQueueSendRequest
	if enc == EncodingBARE {
		r, _, err := openBARE(body, 3)
		if err != nil {
			return m, decodeErr(what, err)
		}
		if m.Body, _, err = r.value(); err != nil {
			return m, decodeErr(what, err)
		}
		if m.Name, err = r.optStr(); err != nil {
			return m, decodeErr(what, err)
		}
		if m.Wait, err = r.optBool(); err != nil {
			return m, decodeErr(what, err)
		}
		if m.Timeout, err = r.optU64(); err != nil {
			return m, decodeErr(what, err)
		}
		if err = r.end(); err != nil {
			return HTTPQueueSendRequest{}, decodeErr(what, err)
		}
		return m, nil
	}
	f, err := decodeDoc(enc, body)
	if err == nil {
		m.Body, _, err = f.val("body")
	}
	if err == nil {
		m.Name, err = f.optStr("name")
	}
	if err == nil {
		m.Wait, err = f.optBool("wait")
	}
	if err == nil {
		m.Timeout, err = f.optMillis("timeout")
	}
	if err != nil {
		return HTTPQueueSendRequest{}, decodeErr(what, err)
	}
	return m, nil
}

func encodeHTTPQueueSendRequest(enc Encoding, m HTTPQueueSendRequest) ([]byte, error) {
	const what = "http queue send request"
	body, err := userValue(m.Body)
	if err == nil && m.Name != nil {
		err = checkStrings(*m.Name)
	}
	if err != nil {
		return nil, encodeErr(what, err)
	}
	switch enc {
	case EncodingBARE:
		w := newBAREWriter()
		w.value(&body)
		w.optStr(m.Name)
		w.boolean(m.Wait != nil)
		if m.Wait != nil {
			w.boolean(*m.Wait)
		}
		w.boolean(m.Timeout != nil)
		if m.Timeout != nil {
			w.u64(*m.Timeout)
		}
		return w.buf, nil
	case EncodingJSON, EncodingCBOR:
		if m.Timeout != nil && *m.Timeout > maxSafeInteger {
			return nil, encodeErr(what, fmt.Errorf("protocol: timeout %d is not a safe integer", *m.Timeout))
		}
		d := newDoc(enc)
		n := 1
		for _, present := range []bool{m.Name != nil, m.Wait != nil, m.Timeout != nil} {
			if present {
				n++
			}
		}
		d.begin(n)
		if err := d.member("body", &body); err != nil {
			return nil, encodeErr(what, err)
		}
		if m.Name != nil {
			d.key("name")
			d.str(*m.Name)
		}
		if m.Wait != nil {
			d.key("wait")
			d.boolean(*m.Wait)
		}
		if m.Timeout != nil {
			d.key("timeout")
			d.millis(*m.Timeout)
		}
		d.end()
		return d.bytes(), nil
	}
	return nil, errUnknownEncoding(enc)
}

// validQueueStatus reports whether s is allowed by HttpQueueSendResponseSchema.
func validQueueStatus(s string) bool { return s == "completed" || s == "timedOut" }

func decodeHTTPQueueSendResponse(enc Encoding, body []byte) (HTTPQueueSendResponse, error) {
	const what = "http queue send response"
	var m HTTPQueueSendResponse
	var err error
	if enc == EncodingBARE {
		var r *bareReader
		if r, _, err = openBARE(body, 3); err == nil {
			if m.Status, err = r.str(); err == nil {
				if m.Response, err = r.optValue(); err == nil {
					err = r.end()
				}
			}
		}
	} else {
		var f fields
		if f, err = decodeDoc(enc, body); err == nil {
			if m.Status, err = f.str("status"); err == nil {
				m.Response, err = f.optVal("response")
			}
		}
	}
	if err == nil && !validQueueStatus(m.Status) {
		err = malformed("invalid queue status %q", m.Status)
	}
	if err != nil {
		return HTTPQueueSendResponse{}, decodeErr(what, err)
	}
	return m, nil
}

func encodeHTTPQueueSendResponse(enc Encoding, m HTTPQueueSendResponse) ([]byte, error) {
	const what = "http queue send response"
	if !validQueueStatus(m.Status) {
		return nil, encodeErr(what, fmt.Errorf("protocol: invalid queue status %q", m.Status))
	}
	var resp *value
	if m.Response != nil {
		v, err := parseCanonical(m.Response)
		if err != nil {
			return nil, encodeErr(what, err)
		}
		resp = &v
	}
	switch enc {
	case EncodingBARE:
		w := newBAREWriter()
		w.str(m.Status)
		w.boolean(resp != nil)
		if resp != nil {
			w.value(resp)
		}
		return w.buf, nil
	case EncodingJSON, EncodingCBOR:
		d := newDoc(enc)
		n := 1
		if resp != nil {
			n++
		}
		d.begin(n)
		d.key("status")
		d.str(m.Status)
		if resp != nil {
			d.key("response")
			if err := d.val(resp); err != nil {
				return nil, encodeErr(what, err)
			}
		}
		d.end()
		return d.bytes(), nil
	}
	return nil, errUnknownEncoding(enc)
}

// HTTP errors.

func decodeErrorBody(enc Encoding, body []byte) (ErrorBody, error) {
	const what = "error body"
	var m ErrorBody
	var err error
	if enc == EncodingBARE {
		var r *bareReader
		var ver uint16
		if r, ver, err = openBARE(body, 1); err != nil {
			return m, decodeErr(what, err)
		}
		if m.Group, err = r.str(); err == nil {
			if m.Code, err = r.str(); err == nil {
				if m.Message, err = r.str(); err == nil {
					m.Metadata, err = r.optValue()
				}
			}
		}
		if err == nil && ver >= 4 {
			m.Actor, err = r.actor()
		}
		if err == nil {
			err = r.end()
		}
	} else {
		var f fields
		if f, err = decodeDoc(enc, body); err == nil {
			m.Group, m.Code, m.Message, err = errorStrings(f)
		}
		if err == nil {
			m.Metadata, err = f.optVal("metadata")
		}
		if err == nil {
			m.Actor, err = f.actor("actor")
		}
	}
	if err != nil {
		return ErrorBody{}, decodeErr(what, err)
	}
	return m, nil
}

func errorStrings(f fields) (group, code, message string, err error) {
	if group, err = f.str("group"); err != nil {
		return
	}
	if code, err = f.str("code"); err != nil {
		return
	}
	message, err = f.str("message")
	return
}

// errorParts holds what ErrorBody and ErrorMessage share, checked and
// parsed for encoding.
type errorParts struct {
	group, code, message string
	metadata             *value
	actor                *ActorSpecifier
}

func newErrorParts(group, code, message string, metadata []byte, actor *ActorSpecifier) (errorParts, error) {
	p := errorParts{group: group, code: code, message: message, actor: actor}
	ss := []string{group, code, message}
	if actor != nil {
		ss = append(ss, actor.ActorID)
		if actor.Key != nil {
			ss = append(ss, *actor.Key)
		}
	}
	if err := checkStrings(ss...); err != nil {
		return p, err
	}
	if metadata != nil {
		v, err := parseCanonical(metadata)
		if err != nil {
			return p, err
		}
		p.metadata = &v
	}
	return p, nil
}

func (p *errorParts) bare(w *bareWriter, actionID *uint64, withActionID bool) {
	w.str(p.group)
	w.str(p.code)
	w.str(p.message)
	w.boolean(p.metadata != nil)
	if p.metadata != nil {
		w.value(p.metadata)
	}
	if withActionID {
		w.boolean(actionID != nil)
		if actionID != nil {
			w.uint(*actionID)
		}
	}
	w.actor(p.actor)
}

func (p *errorParts) doc(d *docWriter, actionID *uint64, withActionID bool) error {
	n := 3
	if p.metadata != nil {
		n++
	}
	if withActionID {
		n++
	}
	if p.actor != nil {
		n++
	}
	d.begin(n)
	d.key("group")
	d.str(p.group)
	d.key("code")
	d.str(p.code)
	d.key("message")
	d.str(p.message)
	if p.metadata != nil {
		d.key("metadata")
		if err := d.val(p.metadata); err != nil {
			return err
		}
	}
	if withActionID {
		d.key("actionId")
		if actionID != nil {
			d.bigUint(*actionID)
		} else {
			d.null()
		}
	}
	if p.actor != nil {
		d.key("actor")
		d.actor(p.actor)
	}
	d.end()
	return nil
}

func encodeErrorBody(enc Encoding, m ErrorBody) ([]byte, error) {
	const what = "error body"
	p, err := newErrorParts(m.Group, m.Code, m.Message, m.Metadata, m.Actor)
	if err != nil {
		return nil, encodeErr(what, err)
	}
	switch enc {
	case EncodingBARE:
		w := newBAREWriter()
		p.bare(w, nil, false)
		return w.buf, nil
	case EncodingJSON, EncodingCBOR:
		d := newDoc(enc)
		if err := p.doc(d, nil, false); err != nil {
			return nil, encodeErr(what, err)
		}
		return d.bytes(), nil
	}
	return nil, errUnknownEncoding(enc)
}

// WebSocket: ToServer.

// ToServer union tags.
const (
	tagActionRequest       = 0
	tagSubscriptionRequest = 1
)

func decodeToServer(enc Encoding, frame []byte) (ToServer, error) {
	const what = "to-server message"
	var m ToServer
	var err error
	if enc == EncodingBARE {
		m, err = decodeToServerBARE(frame)
	} else {
		m, err = decodeToServerDoc(enc, frame)
	}
	if err != nil {
		return ToServer{}, decodeErr(what, err)
	}
	return m, nil
}

func decodeToServerBARE(frame []byte) (ToServer, error) {
	var m ToServer
	r, _, err := openBARE(frame, 1)
	if err != nil {
		return m, err
	}
	tag, err := r.u8()
	if err != nil {
		return m, err
	}
	switch tag {
	case tagActionRequest:
		var a ActionRequest
		var v *value
		if a.ID, err = r.uint(); err != nil {
			return m, err
		}
		if a.Name, err = r.str(); err != nil {
			return m, err
		}
		if a.Args, v, err = r.value(); err != nil {
			return m, err
		}
		if err = requireArray(v, "args"); err != nil {
			return m, err
		}
		m.Action = &a
	case tagSubscriptionRequest:
		var s SubscriptionRequest
		if s.EventName, err = r.str(); err != nil {
			return m, err
		}
		if s.Subscribe, err = r.boolean(); err != nil {
			return m, err
		}
		m.Subscription = &s
	default:
		return m, malformed("bare: invalid to-server tag %d", tag)
	}
	return m, r.end()
}

// docBody returns the tag and val of a {"body":{"tag","val"}} document.
func docBody(enc Encoding, frame []byte) (string, fields, error) {
	root, err := decodeDoc(enc, frame)
	if err != nil {
		return "", fields{}, err
	}
	body, err := root.obj("body")
	if err != nil {
		return "", fields{}, err
	}
	tag, err := body.str("tag")
	if err != nil {
		return "", fields{}, err
	}
	val, err := body.obj("val")
	if err != nil {
		return "", fields{}, err
	}
	val.what = tag
	return tag, val, nil
}

func decodeToServerDoc(enc Encoding, frame []byte) (ToServer, error) {
	var m ToServer
	tag, val, err := docBody(enc, frame)
	if err != nil {
		return m, err
	}
	switch tag {
	case "ActionRequest":
		var a ActionRequest
		var v *value
		if a.ID, err = val.uint("id"); err != nil {
			return m, err
		}
		if a.Name, err = val.str("name"); err != nil {
			return m, err
		}
		if a.Args, v, err = val.val("args"); err != nil {
			return m, err
		}
		if err = requireArray(v, "args"); err != nil {
			return m, err
		}
		m.Action = &a
	case "SubscriptionRequest":
		var s SubscriptionRequest
		if s.EventName, err = val.str("eventName"); err != nil {
			return m, err
		}
		if s.Subscribe, err = val.boolean("subscribe"); err != nil {
			return m, err
		}
		m.Subscription = &s
	default:
		return m, malformed("unknown to-server tag %q", tag)
	}
	return m, nil
}

// docEnvelope opens {"body":{"tag":tag,"val":{...n members}}}.
func docEnvelope(d *docWriter, tag string, n int) {
	d.begin(1)
	d.key("body")
	d.begin(2)
	d.key("tag")
	d.str(tag)
	d.key("val")
	d.begin(n)
}

func docEnvelopeEnd(d *docWriter) {
	d.end()
	d.end()
	d.end()
}

func encodeToServer(enc Encoding, m ToServer) ([]byte, error) {
	const what = "to-server message"
	if enc != EncodingBARE && enc != EncodingJSON && enc != EncodingCBOR {
		return nil, errUnknownEncoding(enc)
	}
	switch {
	case m.Action != nil && m.Subscription == nil:
		a := m.Action
		args, err := argsValue(a.Args)
		if err == nil {
			err = checkStrings(a.Name)
		}
		if err != nil {
			return nil, encodeErr(what, err)
		}
		if enc == EncodingBARE {
			w := newBAREWriter()
			w.u8(tagActionRequest)
			w.uint(a.ID)
			w.str(a.Name)
			w.value(&args)
			return w.buf, nil
		}
		d := newDoc(enc)
		docEnvelope(d, "ActionRequest", 3)
		d.key("id")
		d.bigUint(a.ID)
		d.key("name")
		d.str(a.Name)
		d.key("args")
		if err := d.val(&args); err != nil {
			return nil, encodeErr(what, err)
		}
		docEnvelopeEnd(d)
		return d.bytes(), nil
	case m.Subscription != nil && m.Action == nil:
		s := m.Subscription
		if err := checkStrings(s.EventName); err != nil {
			return nil, encodeErr(what, err)
		}
		if enc == EncodingBARE {
			w := newBAREWriter()
			w.u8(tagSubscriptionRequest)
			w.str(s.EventName)
			w.boolean(s.Subscribe)
			return w.buf, nil
		}
		d := newDoc(enc)
		docEnvelope(d, "SubscriptionRequest", 2)
		d.key("eventName")
		d.str(s.EventName)
		d.key("subscribe")
		d.boolean(s.Subscribe)
		docEnvelopeEnd(d)
		return d.bytes(), nil
	}
	return nil, encodeErr(what, fmt.Errorf("protocol: exactly one field of ToServer must be set"))
}

// WebSocket: ToClient.

// ToClient union tags.
const (
	tagInit           = 0
	tagError          = 1
	tagActionResponse = 2
	tagEvent          = 3
)

func decodeToClient(enc Encoding, frame []byte) (ToClient, error) {
	const what = "to-client message"
	var m ToClient
	var err error
	if enc == EncodingBARE {
		m, err = decodeToClientBARE(frame)
	} else {
		m, err = decodeToClientDoc(enc, frame)
	}
	if err != nil {
		return ToClient{}, decodeErr(what, err)
	}
	return m, nil
}

func decodeToClientBARE(frame []byte) (ToClient, error) {
	var m ToClient
	r, ver, err := openBARE(frame, 1)
	if err != nil {
		return m, err
	}
	tag, err := r.u8()
	if err != nil {
		return m, err
	}
	switch tag {
	case tagInit:
		var i Init
		if i.ActorID, err = r.str(); err != nil {
			return m, err
		}
		if i.ConnectionID, err = r.str(); err != nil {
			return m, err
		}
		if ver == 1 { // v1 also carried a connectionToken
			if _, err = r.str(); err != nil {
				return m, err
			}
		}
		m.Init = &i
	case tagError:
		var e ErrorMessage
		if e.Group, err = r.str(); err != nil {
			return m, err
		}
		if e.Code, err = r.str(); err != nil {
			return m, err
		}
		if e.Message, err = r.str(); err != nil {
			return m, err
		}
		if e.Metadata, err = r.optValue(); err != nil {
			return m, err
		}
		if e.ActionID, err = r.optUint(); err != nil {
			return m, err
		}
		if ver >= 4 {
			if e.Actor, err = r.actor(); err != nil {
				return m, err
			}
		}
		m.Error = &e
	case tagActionResponse:
		var a ActionResponse
		if a.ID, err = r.uint(); err != nil {
			return m, err
		}
		if a.Output, _, err = r.value(); err != nil {
			return m, err
		}
		m.ActionResponse = &a
	case tagEvent:
		var e Event
		var v *value
		if e.Name, err = r.str(); err != nil {
			return m, err
		}
		if e.Args, v, err = r.value(); err != nil {
			return m, err
		}
		if err = requireArray(v, "args"); err != nil {
			return m, err
		}
		m.Event = &e
	default:
		return m, malformed("bare: invalid to-client tag %d", tag)
	}
	return m, r.end()
}

func decodeToClientDoc(enc Encoding, frame []byte) (ToClient, error) {
	var m ToClient
	tag, val, err := docBody(enc, frame)
	if err != nil {
		return m, err
	}
	switch tag {
	case "Init":
		var i Init
		if i.ActorID, err = val.str("actorId"); err != nil {
			return m, err
		}
		if i.ConnectionID, err = val.str("connectionId"); err != nil {
			return m, err
		}
		m.Init = &i
	case "Error":
		var e ErrorMessage
		if e.Group, e.Code, e.Message, err = errorStrings(val); err != nil {
			return m, err
		}
		if e.Metadata, err = val.optVal("metadata"); err != nil {
			return m, err
		}
		if e.ActionID, err = val.optUint("actionId"); err != nil {
			return m, err
		}
		if e.Actor, err = val.actor("actor"); err != nil {
			return m, err
		}
		m.Error = &e
	case "ActionResponse":
		var a ActionResponse
		if a.ID, err = val.uint("id"); err != nil {
			return m, err
		}
		if a.Output, _, err = val.val("output"); err != nil {
			return m, err
		}
		m.ActionResponse = &a
	case "Event":
		var e Event
		var v *value
		if e.Name, err = val.str("name"); err != nil {
			return m, err
		}
		if e.Args, v, err = val.val("args"); err != nil {
			return m, err
		}
		if err = requireArray(v, "args"); err != nil {
			return m, err
		}
		m.Event = &e
	default:
		return m, malformed("unknown to-client tag %q", tag)
	}
	return m, nil
}

func encodeToClient(enc Encoding, m ToClient) ([]byte, error) {
	const what = "to-client message"
	if enc != EncodingBARE && enc != EncodingJSON && enc != EncodingCBOR {
		return nil, errUnknownEncoding(enc)
	}
	set := 0
	for _, p := range []bool{m.Init != nil, m.Error != nil, m.ActionResponse != nil, m.Event != nil} {
		if p {
			set++
		}
	}
	if set != 1 {
		return nil, encodeErr(what, fmt.Errorf("protocol: exactly one field of ToClient must be set"))
	}
	b, err := encodeToClientBody(enc, m)
	if err != nil {
		return nil, encodeErr(what, err)
	}
	return b, nil
}

func encodeToClientBody(enc Encoding, m ToClient) ([]byte, error) {
	var w *bareWriter
	var d *docWriter
	if enc == EncodingBARE {
		w = newBAREWriter()
	} else {
		d = newDoc(enc)
	}
	switch {
	case m.Init != nil:
		i := m.Init
		if err := checkStrings(i.ActorID, i.ConnectionID); err != nil {
			return nil, err
		}
		if w != nil {
			w.u8(tagInit)
			w.str(i.ActorID)
			w.str(i.ConnectionID)
			return w.buf, nil
		}
		docEnvelope(d, "Init", 2)
		d.key("actorId")
		d.str(i.ActorID)
		d.key("connectionId")
		d.str(i.ConnectionID)
	case m.Error != nil:
		e := m.Error
		p, err := newErrorParts(e.Group, e.Code, e.Message, e.Metadata, e.Actor)
		if err != nil {
			return nil, err
		}
		if w != nil {
			w.u8(tagError)
			p.bare(w, e.ActionID, true)
			return w.buf, nil
		}
		// The error object is the val of the envelope: open the envelope
		// by hand so errorParts.doc writes val itself.
		d.begin(1)
		d.key("body")
		d.begin(2)
		d.key("tag")
		d.str("Error")
		d.key("val")
		if err := p.doc(d, e.ActionID, true); err != nil {
			return nil, err
		}
		d.end()
		d.end()
		return d.bytes(), nil
	case m.ActionResponse != nil:
		a := m.ActionResponse
		out, err := userValue(a.Output)
		if err != nil {
			return nil, err
		}
		if w != nil {
			w.u8(tagActionResponse)
			w.uint(a.ID)
			w.value(&out)
			return w.buf, nil
		}
		docEnvelope(d, "ActionResponse", 2)
		d.key("id")
		d.bigUint(a.ID)
		if err := d.member("output", &out); err != nil {
			return nil, err
		}
	case m.Event != nil:
		e := m.Event
		args, err := argsValue(e.Args)
		if err == nil {
			err = checkStrings(e.Name)
		}
		if err != nil {
			return nil, err
		}
		if w != nil {
			w.u8(tagEvent)
			w.str(e.Name)
			w.value(&args)
			return w.buf, nil
		}
		docEnvelope(d, "Event", 2)
		d.key("name")
		d.str(e.Name)
		d.key("args")
		if err := d.val(&args); err != nil {
			return nil, err
		}
	}
	docEnvelopeEnd(d)
	return d.bytes(), nil
}
