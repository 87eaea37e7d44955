// Nothing: the translation unit that a precompiled-header family
// (cmake/precompiled_headers.cmake) is compiled with.
