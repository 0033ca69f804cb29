package decode

// DecodeUsual and DecodeAny are Decode's two paths, for the test that they
// agree.
var DecodeUsual, DecodeAny = decodeUsual, decodeAny
