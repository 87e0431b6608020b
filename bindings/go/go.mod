module github.com/libtsdb/tsdb/bindings/go

go 1.19
