module github.com/fluximage/libfluximage/bindings/go

go 1.24
