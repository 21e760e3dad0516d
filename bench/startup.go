package main

import (
	"os"
)

// Startup is item 2: what a plugin costs before it does anything.
type Startup struct {
	QinqVersion Summary `json:"qinqVersionMs"`
	VlanVersion Summary `json:"vlanVersionMs"`
	QinqBytes   int64   `json:"qinqBytes"`
	VlanBytes   int64   `json:"vlanBytes"`
}

// runStartup execs VERSION, alternating qinq and vlan (which goes first
// alternates too), and compares the binaries' sizes.
func runStartup(e *Env, p params) (Startup, error) {
	var s Startup
	for _, b := range []struct {
		path string
		size *int64
	}{{e.Qinq, &s.QinqBytes}, {e.Vlan, &s.VlanBytes}} {
		st, err := os.Stat(b.path)
		if err != nil {
			return s, err
		}
		*b.size = st.Size()
	}
	times := map[string][]float64{}
	plugins := []string{e.Qinq, e.Vlan}
	call := Call{Cmd: "VERSION", Conf: []byte(`{"cniVersion":"1.1.0"}`)}
	for i := 0; i < p.versionRuns; i++ {
		for j := range plugins {
			pl := plugins[(i+j)%2]
			o, err := e.Exec(pl, call)
			if err != nil {
				return s, err
			}
			times[pl] = append(times[pl], ms(o.Dur))
		}
	}
	s.QinqVersion, s.VlanVersion = summarize(times[e.Qinq]), summarize(times[e.Vlan])
	return s, nil
}
