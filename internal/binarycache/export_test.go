package binarycache

// Encode and Decode expose the encoders to the external tests.
var (
	Encode = encode
	Decode = decode
)
