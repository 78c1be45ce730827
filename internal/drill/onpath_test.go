package drill

import (
	"bufio"
	"bytes"
	"testing"
)

// TestOnPathFrames: what the on-path terminator injects reads back as one
// whole frame at every length encoding, and the frames it must not relay
// (masked, as no server sends; beyond its bound) are refused.
func TestOnPathFrames(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 0xffff, 0x10000} {
		msg := bytes.Repeat([]byte{'x'}, n)
		wire := append(wsTextHeader(n), msg...)
		wire = append(wire, 0x89, 0) // a ping after it: the boundary holds
		r := bufio.NewReader(bytes.NewReader(wire))
		hdr, payload, err := readWSFrame(r)
		if err != nil || hdr[0] != 0x81 || !bytes.Equal(payload, msg) {
			t.Fatalf("%d bytes: header %x, %d bytes read, %v", n, hdr, len(payload), err)
		}
		if hdr, _, err := readWSFrame(r); err != nil || hdr[0] != 0x89 {
			t.Fatalf("%d bytes: the next frame %x, %v", n, hdr, err)
		}
	}
	masked := []byte{0x81, 0x80 | 1, 1, 2, 3, 4, 'x'}
	if _, _, err := readWSFrame(bufio.NewReader(bytes.NewReader(masked))); err == nil {
		t.Error("a masked frame was relayed")
	}
	if _, _, err := readWSFrame(bufio.NewReader(bytes.NewReader(wsTextHeader(onPathMaxFrame + 1)))); err == nil {
		t.Error("a frame beyond the bound was read")
	}
}
