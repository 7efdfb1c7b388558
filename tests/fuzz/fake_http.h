/* fake_http.h - the answer the fake kz_http_do gives (fake_http.c). */
#ifndef FAKE_HTTP_H
#define FAKE_HTTP_H

struct fake_answer {
	long status;
	const char *body;
	size_t len;
	const char *location;
	long retry_after;
	int64_t date;
	kz_reason fail;
};

extern struct fake_answer fake_answer;
extern unsigned fake_requests;

#endif
