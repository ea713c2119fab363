package testproc

import (
	"net"
	"runtime"
	"strconv"
	"testing"
)

func TestPickAddrGivesDistinctBindablePortsOutsideTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	seen := map[string]bool{}
	for range 50 {
		addr, err := PickAddr()
		if err != nil {
			t.Fatal(err)
		}
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		_, portText, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, err := strconv.Atoi(portText)
		if err != nil {
			t.Fatal(err)
		}
		if low > minPort+1000 && (port < minPort || port >= low) {
			t.Errorf("%s: not in [%d, %d), below the ephemeral range", addr, minPort, low)
		}
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s: a server cannot bind it: %v", addr, err)
			continue
		}
		lis.Close()
		if runtime.GOOS == "linux" {
			// Another process asking for the port is refused: it is reserved.
			if other, err := net.Listen("unix", reservationName(port)); err == nil {
				other.Close()
				t.Errorf("%s: its reservation can be taken by another process", addr)
			}
		}
	}
}
