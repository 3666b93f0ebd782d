package binarycache

// Decode exposes the bounded decoder to the external tests.
var Decode = decode
