package sniff_test

import "flag"

// update rewrites the expected outputs of the documented deviations from
// justniffer (testdata/expected); review the diff before committing.
var update = flag.Bool("update", false, "rewrite testdata/expected")
