package session

import (
	"testing"

	"github.com/fifthwheel/fifthwheel/agent"
)

// TestWireConstantsAgree: the agent and the gateway use the same paths,
// subprotocol and close codes.
func TestWireConstantsAgree(t *testing.T) {
	if agent.SessionPath != Path || agent.Subprotocol != Subprotocol {
		t.Fatal("path or subprotocol differ")
	}
	for _, p := range [][2]int{
		{int(agent.CloseGoodbye), int(CloseGoodbye)}, {int(agent.CloseGoingAway), int(CloseGoingAway)},
		{int(agent.CloseTryAgainLater), int(CloseTryAgainLater)}, {int(agent.CloseCommLost), int(CloseCommLost)},
		{int(agent.CloseSuperseded), int(CloseSuperseded)}, {int(agent.CloseHandshakeTimeout), int(CloseHandshakeTimeout)},
		{int(agent.CloseRevoked), int(CloseRevoked)}, {int(agent.CloseProtocol), int(CloseProtocol)},
		{int(agent.CloseRefused), int(CloseRefused)},
	} {
		if p[0] != p[1] {
			t.Fatalf("close code %d vs %d", p[0], p[1])
		}
	}
}
