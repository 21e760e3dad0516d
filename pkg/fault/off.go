//go:build !faultinject

package fault

// Point is a no-op outside the faultinject build.
func Point(string) error { return nil }
