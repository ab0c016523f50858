package rules

// InboundSet returns the inbound rule set called name, as the Caddyfile's
// tokenize directive names it. A nil File has no sets.
func (f *File) InboundSet(name string) (*Inbound, bool) {
	if f == nil {
		return nil, false
	}
	for _, s := range f.Inbound {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// OutboundSet returns the outbound rule set called name, as the Caddyfile
// names it. A nil File has no sets.
func (f *File) OutboundSet(name string) (*Outbound, bool) {
	if f == nil {
		return nil, false
	}
	for _, s := range f.Outbound {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// FieldsOf returns the set's fields of kind k, in file order. Validation
// leaves at most one, but a slice lets callers range without a found flag.
func (s *Inbound) FieldsOf(k Kind) []Field {
	return fieldsOf(s.Fields, k)
}

// FieldsOf returns the set's fields of kind k, in file order, including the
// number field added when the file has none.
func (s *Outbound) FieldsOf(k Kind) []Field {
	return fieldsOf(s.Fields, k)
}

// fieldsOf filters fields by kind.
func fieldsOf(fields []Field, k Kind) []Field {
	var out []Field
	for _, f := range fields {
		if f.Kind == k {
			out = append(out, f)
		}
	}
	return out
}

// MatchBlock returns the set's match block.
func (s *Inbound) MatchBlock() Match { return s.Match }

// MatchBlock returns the set's match block.
func (s *Outbound) MatchBlock() Match { return s.Match }
