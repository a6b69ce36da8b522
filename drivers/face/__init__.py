"""Face check (人证核验): detection, landmarks and descriptors (dlib), the turn prompt, one attempt."""
