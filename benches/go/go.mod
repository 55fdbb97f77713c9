module fluximage.bench

go 1.24

require github.com/fluximage/libfluximage/bindings/go v0.0.0

replace github.com/fluximage/libfluximage/bindings/go => ../../bindings/go
