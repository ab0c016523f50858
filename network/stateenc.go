package network

import (
	"encoding/json"
	"strconv"
	"time"
)

// encodeState is json.Marshal(st), byte for byte, without reflection:
// every new card's token state is encoded once, on the provisioning path.
// A state with a string JSON would escape, or a time it cannot encode,
// goes through encoding/json.
func encodeState(st *tokenState) ([]byte, error) {
	strs := [...]string{st.ID, st.Brand, st.TokenBIN, st.KeyID, st.ExpMonth, st.ExpYear, st.PAR, st.Status}
	size := 160
	for _, s := range strs {
		if !plainJSON(s) {
			return json.Marshal(st)
		}
		size += len(s)
	}
	if !jsonTime(st.Created) || !jsonTime(st.Updated) {
		return json.Marshal(st)
	}
	out := make([]byte, 0, size+2*len(time.RFC3339Nano))
	out = strconv.AppendInt(append(out, `{"v":`...), int64(st.V), 10)
	out = appendField(out, `,"id":"`, st.ID)
	out = appendField(out, `","brand":"`, st.Brand)
	out = appendField(out, `","token_bin":"`, st.TokenBIN)
	out = strconv.AppendInt(append(out, `","length":`...), int64(st.Length), 10)
	out = appendField(out, `,"key_id":"`, st.KeyID)
	out = appendField(out, `","exp_month":"`, st.ExpMonth)
	out = appendField(out, `","exp_year":"`, st.ExpYear)
	out = appendField(out, `","par":"`, st.PAR)
	out = appendField(out, `","status":"`, st.Status)
	out = st.Created.AppendFormat(append(out, `","created":"`...), time.RFC3339Nano)
	out = st.Updated.AppendFormat(append(out, `","updated":"`...), time.RFC3339Nano)
	return append(out, `"}`...), nil
}

// encodeReservation is json.Marshal(dpanReservation{ID: id}).
func encodeReservation(id string) []byte {
	if !plainJSON(id) {
		res, _ := json.Marshal(dpanReservation{ID: id})
		return res
	}
	return append(append(append(make([]byte, 0, len(id)+10), `{"id":"`...), id...), `"}`...)
}

func appendField(out []byte, name, s string) []byte { return append(append(out, name...), s...) }

// plainJSON reports whether encoding/json writes s as it is between
// quotes: printable ASCII without a quote, a backslash or the HTML
// characters it escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// jsonTime reports whether t's JSON is its RFC 3339 form as AppendFormat
// writes it (time.Time.MarshalJSON refuses years outside 0-9999 and
// offsets of a fraction of a minute or of a day and more).
func jsonTime(t time.Time) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	return off%60 == 0 && off > -24*3600 && off < 24*3600
}
