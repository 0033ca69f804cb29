package decode

// DecodeAny is the path of Decode every frame may take, for the test that
// Decode's path for the usual frame agrees with it.
var DecodeAny = decodeAny
