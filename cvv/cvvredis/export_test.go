package cvvredis

// Key names, for the external tests.
func (s *Store) KeyFor(tenant, token string) string      { return s.key(tenant, token) }
func (s *ShortLived) KeyFor(tenant, token string) string { return s.key(tenant, token) }
