/* The standalone_header test: building tsdb_h.c and tsdb_h.cpp is the test; this only links them. */
int main(void) { return 0; }
