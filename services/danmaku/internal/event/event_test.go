package event

import (
	"strings"
	"testing"
)

func TestRoundTripAndTrailingBytes(t *testing.T) {
	want := Event{ID: 7, Room: "r1", User: "u1", Tier: 2, Text: "好耶 🎉", PostedUnixNano: 1_700_000_000_000_000_000}
	data, err := want.MarshalMsg(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil || got != want {
		t.Fatalf("Decode = %+v, %v; want %+v", got, err, want)
	}
	if _, err := Decode(append(data, 0xc0)); err == nil || !strings.Contains(err.Error(), "1 bytes after the event") {
		t.Errorf("trailing byte: %v", err)
	}
	if _, err := Decode(data[:len(data)-3]); err == nil || !strings.HasPrefix(err.Error(), "danmaku event:") {
		t.Errorf("truncated: %v", err)
	}
}

// FuzzDecode: any input decodes to an event that re-encodes to the same bytes, or
// fails with an error; never a panic.
func FuzzDecode(f *testing.F) {
	seed, _ := (&Event{ID: 1, Room: "r", User: "u", Tier: 1, Text: "hi", PostedUnixNano: 5}).MarshalMsg(nil)
	f.Add(seed)
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data)
		if err != nil {
			return
		}
		again, err := e.MarshalMsg(nil)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(again)
		if err != nil || back != e {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", e, back, err)
		}
	})
}
