module github.com/repofs/repofs

go 1.26.0

require (
	github.com/ProtonMail/go-crypto v1.5.2
	github.com/hanwen/go-fuse/v2 v2.12.1
	github.com/klauspost/compress v1.20.4
	github.com/spf13/pflag v1.1.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/cloudflare/circl v1.6.3 // indirect
	github.com/ulikunitz/xz v0.5.17 // indirect
	golang.org/x/crypto v0.41.0 // indirect
)
