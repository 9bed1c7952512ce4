package httpapi

// SpoolInUse is the bytes of request bodies s holds now, for the tests.
func SpoolInUse(s *Server) int64 { return s.space.inUse() }
