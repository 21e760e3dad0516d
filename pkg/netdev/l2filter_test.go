package netdev

import "testing"

// The bridge forwards every reserved kind but pause with the opt-in (the
// kernel refuses the pause bit on a port), none by its mask without it.
func TestFwdMask_AllButPauseWithTheOptInNoneWithout(t *testing.T) {
	if got := fwdMask(PassReserved); got != 0xfffd {
		t.Errorf("PassReserved: %#x, want 0xfffd", got)
	}
	if got := fwdMask(DropReserved); got != 0 {
		t.Errorf("DropReserved: %#x, want 0", got)
	}
}

// The filter's addresses: the whole 01:80:c2:00:00:0x block, or pause alone.
func TestReservedFilter_MatchesTheBlockOrPauseAlone(t *testing.T) {
	for last := 0; last < 0x20; last++ {
		dst := []byte{0x01, 0x80, 0xc2, 0, 0, byte(last)}
		inBlock := true
		for i := range dst {
			if dst[i]&reservedMask[i] != reservedGroup[i] {
				inBlock = false
			}
		}
		if inBlock != (last < 0x10) {
			t.Errorf("…%02x: in the dropped block %v, want %v", last, inBlock, last < 0x10)
		}
	}
	if pauseGroup[5] != 1 || exactMask[5] != 0xff {
		t.Errorf("pause filter %v/%v", pauseGroup, exactMask)
	}
}
