//go:build race

package main

// raceBuild: the tests run under -race, so the daemon binary they drive is
// built with -race too (a data race then fails its exit status).
const raceBuild = true
