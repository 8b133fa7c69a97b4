module github.com/gpyxis/gpyxis

go 1.24
