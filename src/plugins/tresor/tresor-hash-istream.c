/* A pass-through istream that hashes what is read through it once. */
#include "lib.h"
#include "hash-method.h"
#include "istream-private.h"
#include "tresor-hash-istream.h"

struct tresor_hash_istream {
	struct istream_private istream;

	const struct hash_method *method;
	void *hash_context; /* NULL once the end was read */
	uoff_t hashed_bytes;
	bool gap; /* a seek went past bytes never read */
};

static ssize_t tresor_hash_istream_read(struct istream_private *stream)
{
	struct tresor_hash_istream *hstream =
		container_of(stream, struct tresor_hash_istream, istream);
	const unsigned char *data;
	uoff_t offset = stream->istream.v_offset, skip;
	size_t size;
	ssize_t ret;

	if (stream->parent->v_offset != stream->parent_start_offset + offset) {
		i_stream_seek(stream->parent,
			      stream->parent_start_offset + offset);
	}
	ret = i_stream_read_copy_from_parent(&stream->istream);
	if (ret > 0 && hstream->hash_context != NULL) {
		data = i_stream_get_data(&stream->istream, &size);
		if (offset > hstream->hashed_bytes) {
			hstream->gap = TRUE;
		} else {
			skip = hstream->hashed_bytes - offset;
			if (skip < size) {
				hstream->method->loop(hstream->hash_context,
						      data + skip, size - skip);
				hstream->hashed_bytes += size - skip;
			}
		}
	} else if (ret == -1 && stream->istream.eof &&
		   stream->istream.stream_errno == 0) {
		/* the hash is finished by its owner, who may free it */
		hstream->hash_context = NULL;
	}
	return ret;
}

static void tresor_hash_istream_seek(struct istream_private *stream,
				     uoff_t v_offset, bool mark ATTR_UNUSED)
{
	stream->istream.v_offset = v_offset;
	stream->skip = stream->pos = 0;
}

struct istream *
tresor_hash_istream_create(struct istream *input,
			   const struct hash_method *method,
			   void *hash_context)
{
	struct tresor_hash_istream *hstream;

	hstream = i_new(struct tresor_hash_istream, 1);
	hstream->istream.max_buffer_size = input->real_stream->max_buffer_size;
	hstream->istream.stream_size_passthrough = TRUE;
	hstream->istream.read = tresor_hash_istream_read;
	hstream->istream.seek = tresor_hash_istream_seek;
	/* never readable as a file: a sendfile() from the fd would bypass
	   the hashing */
	hstream->istream.istream.readable_fd = FALSE;
	hstream->istream.istream.blocking = input->blocking;
	hstream->istream.istream.seekable = input->seekable;
	hstream->method = method;
	hstream->hash_context = hash_context;
	return i_stream_create(&hstream->istream, input, -1, 0);
}

void tresor_hash_istream_detach(struct istream *stream)
{
	struct tresor_hash_istream *hstream =
		container_of(stream->real_stream, struct tresor_hash_istream,
			     istream);

	if (hstream->hash_context != NULL) {
		hstream->hash_context = NULL;
		hstream->gap = TRUE; /* the hash, if any, is partial */
	}
}

bool tresor_hash_istream_is_complete(struct istream *stream)
{
	struct tresor_hash_istream *hstream =
		container_of(stream->real_stream, struct tresor_hash_istream,
			     istream);

	return hstream->hash_context == NULL && !hstream->gap;
}
