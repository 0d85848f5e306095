/*
 * fault_throw - C++: an exception thrown through several frames that own
 * heap memory.
 *
 * ROUNDS = 50 rounds: level(1) recurses to depth 5, each frame holding a
 * Holder (new char[9000 + depth], delete[] in its destructor); depth 5
 * throws std::runtime_error, caught in main, so the 5 destructors run while
 * unwinding. The first 3 rounds also leak new char[9100].
 * Truth: 250 blocks of 9001..9005 bytes allocated and freed, 3 blocks of
 * 9100 bytes (27300) live. Prints "caught 50".
 */
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace {

const int ROUNDS = 50;
const int DEPTH = 5;

struct Holder {
	explicit Holder(std::size_t n) : p(new char[n])
	{
		std::memset(p, 1, n);
	}
	~Holder()
	{
		delete[] p;
	}
	Holder(const Holder &) = delete;
	Holder &operator=(const Holder &) = delete;
	char *p;
};

char *volatile sink;

__attribute__((noinline)) void level(int depth)
{
	Holder h(9000 + static_cast<std::size_t>(depth));

	if (depth == DEPTH)
		throw std::runtime_error("deep");
	level(depth + 1);
	sink = h.p;	/* keeps the frame: not a tail call */
}

} // namespace

int main()
{
	int caught = 0;

	for (int r = 0; r < ROUNDS; r++) {
		if (r < 3)
			sink = new char[9100];
		try {
			level(1);
		} catch (const std::runtime_error &e) {
			caught += std::strcmp(e.what(), "deep") == 0;
		}
	}
	std::printf("caught %d\n", caught);
	return caught == ROUNDS ? 0 : 1;
}
