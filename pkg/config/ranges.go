package config

// ParseAllowList reads ranges such as ["100-199","300"] the way the
// overrideSVlans key is read (the node policy's VLAN grants use the form).
func ParseAllowList(field string, items []string) (AllowList, error) {
	return parseAllowList(field, items)
}

// Allows reports whether v is in one of the ranges.
func (a AllowList) Allows(v VID) bool { return a.allows(v) }
